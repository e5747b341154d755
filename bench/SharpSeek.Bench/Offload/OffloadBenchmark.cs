using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using SharpSeek.Bench.Harness;
using SharpSeek.Checkpoints;
using SharpSeek.Models;
using SharpSeek.Models.Offload;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Bench.Offload;

/// <summary>
/// <c>bench/run offload</c>: greedy decode with a GPT-2 124M-shaped model (random weights, made as <c>sharpseek init --preset
/// 124m</c> makes it, configs/gpt2-124m.json) fully resident and under <c>--max-memory</c> budgets below its size (60% and
/// 40% of the weight bytes), each in a fresh process: peak RSS (VmHWM of the child), load time and decode tokens/s.
/// </summary>
public sealed class OffloadBenchmark : IBenchmark
{
    public JsonObject Run(BenchContext context)
    {
        int newTokens = context.Quick ? 16 : 64, threads = 2;
        string dir = Path.Combine(Path.GetTempPath(), $"sharpseek-bench-offload-{Environment.ProcessId}");
        try
        {
            context.Log("creating a random-weight GPT-2 124M folder (as sharpseek init --preset 124m)…");
            using (ModelFactory.CreateAndSave(ModelFactory.ResolveConfigJson("gpt2", "124m"), dir)) { }
            long weightBytes = new FileInfo(Path.Combine(dir, CheckpointFolder.SingleFile)).Length;
            var runs = new JsonArray();
            foreach (double fraction in new[] { 0.0, 0.6, 0.4 })
            {
                string? budget = fraction == 0 ? null : $"{(long)(fraction * weightBytes / 1e6)}MB";
                context.Log($"decode {newTokens} tokens, {(budget is null ? "fully resident" : $"--max-memory {budget}")}…");
                var (file, args) = ChildProcess.Self(["worker", "offload", "--model", dir, "--new-tokens", $"{newTokens}", "--threads", $"{threads}",
                                                      .. budget is null ? Array.Empty<string>() : ["--max-memory", budget]]);
                var r = ChildProcess.RunJsonOrFailure(file, args, new Dictionary<string, string?> { ["OMP_WAIT_POLICY"] = "PASSIVE" }, TimeSpan.FromMinutes(10));
                r["budget_fraction_of_weights"] = fraction == 0 ? null : fraction;
                context.SampleLoad(budget ?? "resident");
                context.Log($"  {r.ToJsonString()}");
                runs.Add(r);
            }
            var resident = runs[0]!.AsObject();
            var summary = new JsonObject { ["weight_bytes"] = weightBytes };
            foreach (var run in runs.Skip(1).Select(n => n!.AsObject()).Where(n => !n.ContainsKey("failed") && !resident.ContainsKey("failed")))
            {
                string key = $"max_memory_{(int)((double)run["budget_fraction_of_weights"]! * 100)}pct";
                summary[key] = new JsonObject
                {
                    ["peak_rss_ratio_vs_resident"] = Math.Round((double)run["peak_rss_bytes"]! / (double)resident["peak_rss_bytes"]!, 3),
                    ["peak_rss_saved_bytes"] = (long)resident["peak_rss_bytes"]! - (long)run["peak_rss_bytes"]!,
                    ["tokens_per_s_ratio_vs_resident"] = Math.Round((double)run["tokens_per_s"]! / (double)resident["tokens_per_s"]!, 3),
                    ["same_tokens_as_resident"] = run["tokens"]!.ToJsonString() == resident["tokens"]!.ToJsonString(),
                };
            }
            return new JsonObject
            {
                ["model"] = "GPT-2 124M shape (configs/gpt2-124m.json), random weights, fp32 safetensors, created as `sharpseek init --preset 124m` does",
                ["decode"] = $"batch 1, 8-token prompt, {newTokens} greedy tokens with the KV cache, {threads} threads, one process per run",
                ["peak_rss"] = "VmHWM of the child process (/proc/self/status) after loading and decoding: LibTorch and .NET runtime included",
                ["note"] = "2-core machine shared with other agents (see machine.load samples): tokens/s are noisy, ratios come from one run",
                ["runs"] = runs,
                ["summary"] = summary,
            };
        }
        finally { try { Directory.Delete(dir, recursive: true); } catch (IOException) { } }
    }
}

/// <summary>
/// One measurement of <see cref="OffloadBenchmark"/> in its own process (<c>SharpSeek.Bench worker offload --model DIR
/// [--max-memory SIZE] …</c>): load, warm up, decode, then report peak RSS from /proc/self/status.
/// </summary>
public static class OffloadWorker
{
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        string dir = a.Get("model", "");
        string? budget = a.Get("max-memory", "") is { Length: > 0 } b ? b : null;
        int newTokens = a.Int("new-tokens", 64), promptLen = a.Int("prompt-len", 8);
        torch.set_num_threads(a.Int("threads", 2));
        long start = Stopwatch.GetTimestamp();
        using var model = ModelLoader.Load(dir, budget is null ? null : DeviceMap.Budget(budget));
        double loadSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        long afterLoad = Status("VmHWM");
        using var noGrad = torch.no_grad();
        using var prompt = torch.arange(1, promptLen + 1, dtype: ScalarType.Int64).view(1, -1);   // (1, T)
        DecodeWorker.DecodeOnce(model, prompt, 4);                                                 // warm-up
        var (_, seconds, tokens, _) = DecodeWorker.DecodeOnce(model, prompt, newTokens);                // (prompt s, steps s, tokens, CPU ms)
        var offload = (model as IOffloadedModel)?.Offload;
        return new JsonObject
        {
            ["max_memory"] = budget,
            ["max_memory_bytes"] = budget is null ? null : OffloadMath.ParseSize(budget),
            ["placement"] = offload is null ? "all resident" : string.Join(",", offload.Placement),
            ["disk_layers"] = offload?.Placement.Count(p => p.IsDisk) ?? 0,
            ["resident_weight_bytes"] = offload?.ResidentBytes ?? LayerOffload.LiveBytes(model),
            ["staging_bytes"] = offload?.StagingBytes ?? 0,
            ["load_s"] = Math.Round(loadSeconds, 2),
            ["peak_rss_after_load_bytes"] = afterLoad,
            ["peak_rss_bytes"] = Status("VmHWM"),
            ["rss_end_bytes"] = Status("VmRSS"),
            ["tokens_per_s"] = Math.Round(newTokens / seconds, 2),
            ["ms_per_token"] = Math.Round(1000 * seconds / newTokens, 1),
            ["new_tokens"] = newTokens,
            ["threads"] = torch.get_num_threads(),
            ["tokens"] = new JsonArray(tokens.Take(16).Select(t => (JsonNode)t).ToArray()),
        };
    }

    /// <summary>A /proc/self/status figure in bytes (VmHWM: peak resident set; VmRSS: now).</summary>
    private static long Status(string key) =>
        1024 * long.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(key + ":")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
}
