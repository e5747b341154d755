using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Bench.Decode;

/// <summary>
/// One SharpSeek decode measurement in its own process (<c>SharpSeek.Bench worker decode --config NAME …</c>):
/// a random-weight GPT-2 through <see cref="CausalLM.Forward"/> with a KV cache, batch 1: prefill a short prompt,
/// then N greedy steps (argmax only), best of several rounds after one warm-up round.
/// </summary>
public static class DecodeWorker
{
    /// <summary>The two benchmark models; the PyTorch baseline (bench/baselines/decode_pytorch.py) builds the same.</summary>
    public static readonly IReadOnlyDictionary<string, Gpt2Config> Configs = new Dictionary<string, Gpt2Config>
    {
        ["config_a"] = new() { NLayer = 6, NHead = 6, NEmbd = 384, VocabSize = 50304, NPositions = 256 },
        ["gpt2_124m"] = new() { NLayer = 12, NHead = 12, NEmbd = 768, VocabSize = 50257, NPositions = 1024 },
    };

    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        string configName = a.Get("config", "config_a");
        string? modelDir = a.Get("model", "") is { Length: > 0 } m ? m : null;
        int threads = a.Int("threads", 2), promptLen = a.Int("prompt-len", 8), newTokens = a.Int("new-tokens", 64);
        int repeats = a.Int("repeats", 3), seed = a.Int("seed", 1234);

        torch.set_num_threads(threads);
        torch.manual_seed(seed);
        using var model = modelDir is null ? new Gpt2LMHeadModel(Configs[configName]) : ModelLoader.Load(modelDir);
        model.eval();
        using var noGrad = torch.no_grad();
        var rng = new Random(seed);                                      // the same prompt ids as LlamaCppWorker's
        var ids = Enumerable.Range(0, promptLen).Select(_ => (long)rng.Next(0, model.VocabSize)).ToArray();
        using var prompt = torch.tensor(ids).view(1, promptLen);          // (1, T)

        var rates = new List<double>();
        var promptRates = new List<double>();
        var cpuMs = new List<double>();
        long[] tokens = [];
        int gen0 = 0;
        long allocated = 0;
        for (int round = 0; round <= repeats; round++)                   // round 0 warms up (8 tokens)
        {
            int g0 = GC.CollectionCount(0);
            long b0 = GC.GetAllocatedBytesForCurrentThread();
            var (promptSeconds, seconds, generated, cpu) = DecodeOnce(model, prompt, round == 0 ? Math.Min(8, newTokens) : newTokens);
            if (round == 0) continue;
            cpuMs.Add(cpu / newTokens);
            rates.Add(newTokens / seconds);
            promptRates.Add(promptLen / promptSeconds);
            tokens = generated;
            gen0 += GC.CollectionCount(0) - g0;
            allocated += GC.GetAllocatedBytesForCurrentThread() - b0;
        }
        double best = rates.Max();
        var result = new JsonObject
        {
            ["side"] = "sharpseek",
            ["config"] = modelDir is null ? configName : Path.GetFileName(Path.GetFullPath(modelDir)),
            ["tokens_per_s"] = best,
            ["ms_per_token"] = 1000.0 / best,
            ["all_tokens_per_s"] = new JsonArray(rates.Select(r => (JsonNode)r).ToArray()),
            ["prompt_tokens_per_s"] = promptRates.Max(),
            ["cpu_ms_per_token"] = cpuMs.Min(),
            ["threads"] = torch.get_num_threads(),
            ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(default)",
            ["simd"] = SharpSeek.Kernels.SimdPaths.Describe(),
            ["parameters"] = model.parameters().Sum(p => p.NumberOfElements),
            ["prompt_len"] = promptLen,
            ["new_tokens"] = newTokens,
            ["managed_bytes_allocated_per_token"] = allocated / (double)(repeats * newTokens),
            ["gen0_collections_per_token"] = gen0 / (double)(repeats * newTokens),
            ["first_tokens"] = new JsonArray(tokens.Take(8).Select(t => (JsonNode)t).ToArray()),
        };
        if (modelDir is not null)
            result["file_size_bytes"] = Directory.EnumerateFiles(modelDir, "*.safetensors").Sum(f => new FileInfo(f).Length);
        return result;
    }

    /// <summary>
    /// Prefill (timed, with the first argmax), then <paramref name="newTokens"/> greedy steps; returns the prompt's seconds,
    /// the steps' seconds, the tokens and the steps' process CPU time (ms, all threads).
    /// </summary>
    public static (double PromptSeconds, double Seconds, long[] Tokens, double CpuMs) DecodeOnce(CausalLM model, Tensor prompt, int newTokens)
    {
        using var cache = model.CreateKvCache(1, (int)prompt.shape[1] + newTokens);
        var tokens = new long[newTokens];
        Tensor next;
        long t0 = Stopwatch.GetTimestamp();
        using (var scope = torch.NewDisposeScope())
        {
            using var output = model.call(new CausalLMInput(prompt) { Cache = cache, LogitsToKeep = 1 });    // the head at the last position only
            next = output.TakeLogits().select(1, -1).argmax(-1, keepdim: true).MoveToOuterDisposeScope();   // (1, 1)
            next.item<long>();
        }
        double promptSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        double cpu0 = DecodeProfile.CpuMs();
        long start = Stopwatch.GetTimestamp();
        for (int step = 0; step < newTokens; step++)
        {
            using var scope = torch.NewDisposeScope();
            tokens[step] = next.item<long>();
            var logits = model.Logits(next, cache);                                 // (1, 1, V)
            var chosen = logits.select(1, -1).argmax(-1, keepdim: true);            // (1, 1)
            next.Dispose();
            next = chosen.MoveToOuterDisposeScope();
        }
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        double cpu = DecodeProfile.CpuMs() - cpu0;
        next.Dispose();
        return (promptSeconds, seconds, tokens, cpu);
    }
}

/// <summary>"--key value" pairs of a worker command line.</summary>
public sealed class WorkerArgs
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public static WorkerArgs Parse(string[] args)
    {
        var result = new WorkerArgs();
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--")) throw new ArgumentException($"expected --key value, got '{args[i]}'");
            result._values[args[i][2..]] = args[i + 1];
        }
        return result;
    }

    public string Get(string key, string fallback) => _values.GetValueOrDefault(key, fallback);
    public int Int(string key, int fallback) => _values.TryGetValue(key, out var v) ? int.Parse(v) : fallback;
}
