using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Harness;
using SharpSeek.Generation.Serving;
using SharpSeek.Models;
using SharpSeek.Server;
using SharpSeek.Tokenization;

namespace SharpSeek.Bench.Serve;

/// <summary>
/// <c>bench/run serve</c>: the OpenAI-compatible server on loopback under 1, 8 and 32 concurrent streaming clients,
/// continuous batching (<c>--max-batch 32</c>) against serving the requests one by one (<c>--max-batch 1</c>), same model,
/// same requests, measured in one run. Per setting: aggregate completion tokens/s (all tokens streamed ÷ wall time) and
/// time to first token (request sent → first streamed text chunk) p50/p95. Model: GPT-2 config A shapes (6 layers,
/// C = 384, vocabulary 50304, context 256), random weights, fp32, byte tokenizer; every request is a streamed
/// /v1/completions call, greedy, with a 16-byte prompt and max_tokens new tokens (EOS may end one early: the tokens
/// counted are the ones streamed). The full run then runs the 60 s load test (32 clients, then 50 malformed requests).
/// </summary>
public sealed class ServeBenchmark : IBenchmark
{
    public JsonObject Run(BenchContext context)
    {
        bool quick = context.Quick;
        // One intra-op thread for both modes: on this shared 2-core machine two OpenMP threads stall on each other under
        // load, which swamps the difference being measured (a benchmark process may set this; the library never does).
        TorchSharp.torch.set_num_threads(1);
        int maxTokens = quick ? 24 : 48, requestsPerClient = quick ? 1 : 2;
        int[] concurrency = [1, 8, 32];
        using var dir = new TempFolder();
        string json = ModelFactory.ResolveConfigJson("gpt2", "config-a");
        ModelFactory.CreateAndSave(json, dir.Path, seed: 1337).Dispose();
        ByteTokenizerFiles.Write(dir.Path);
        context.Log($"model: GPT-2 config A (random weights) in {dir.Path}; {maxTokens} new tokens per request, {requestsPerClient} request(s) per client");

        var settings = new JsonArray();
        var table = new Dictionary<(string, int), JsonObject>();
        foreach (var (mode, maxBatch) in new[] { ("continuous_batching", 32), ("one_by_one", 1) })
        {
            using var served = ServedModel.Load(dir.Path, "config-a", new ContinuousBatcherOptions { MaxBatchSize = maxBatch });
            var server = OpenAiServer.StartAsync(served, new ServerOptions { Port = 0 }).GetAwaiter().GetResult();
            try
            {
                using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64 }) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMinutes(10) };
                Measure(http, served.Id, 1, 1, 4);                                                          // warm-up
                foreach (int clients in concurrency)
                {
                    context.Log($"{mode}: {clients} client(s)…");
                    var m = Measure(http, served.Id, clients, requestsPerClient, maxTokens);
                    m["mode"] = mode;
                    m["max_batch"] = maxBatch;
                    m["clients"] = clients;
                    m["peak_batch"] = served.Batcher.PeakBatchSize;
                    context.Log($"  {m["tokens_per_s"]} tokens/s, TTFT p50 {m["ttft_p50_ms"]} ms, p95 {m["ttft_p95_ms"]} ms");
                    settings.Add(m);
                    table[(mode, clients)] = m;
                }
            }
            finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
        }
        var ratios = new JsonObject();
        foreach (int c in concurrency)
        {
            var b = table[("continuous_batching", c)];
            var s = table[("one_by_one", c)];
            ratios[$"clients_{c}"] = new JsonObject
            {
                ["tokens_per_s_speedup"] = Math.Round(b["tokens_per_s"]!.GetValue<double>() / s["tokens_per_s"]!.GetValue<double>(), 2),
                ["ttft_p50_ratio_one_by_one_over_batched"] = Math.Round(s["ttft_p50_ms"]!.GetValue<double>() / Math.Max(b["ttft_p50_ms"]!.GetValue<double>(), 0.1), 2),
            };
        }

        var result = new JsonObject
        {
            ["model"] = "GPT-2 config A shapes (configs/gpt2-config-a.json: 6 layers, n_embd 384, vocab 50304, context 256), random weights, fp32, byte tokenizer",
            ["request"] = $"streamed POST /v1/completions, 16-byte prompt, max_tokens {maxTokens}, temperature 0; {requestsPerClient} request(s) per client, clients start together",
            ["torch_threads"] = TorchSharp.torch.get_num_threads(),
            ["threads_note"] = "one LibTorch intra-op thread in both modes (set by the benchmark)",
            ["fields"] = new JsonObject
            {
                ["tokens_per_s"] = "completion tokens streamed to all clients ÷ wall time from the first request sent to the last stream closed",
                ["ttft_p50_ms/ttft_p95_ms"] = "time to first token: request sent → first data chunk carrying text, over all requests",
                ["latency_p50_ms"] = "request sent → data: [DONE]",
                ["peak_batch"] = "largest batch the decode thread ran so far on that server",
                ["speedup"] = "continuous batching tokens/s ÷ one-by-one tokens/s at the same number of clients",
            },
            ["settings"] = settings,
            ["speedup"] = ratios,
        };
        if (!quick) result["load_test"] = LoadTest(context);
        return result;
    }

    /// <summary><paramref name="clients"/> concurrent streaming clients, each sending <paramref name="requests"/> requests one after another.</summary>
    private static JsonObject Measure(HttpClient http, string model, int clients, int requests, int maxTokens)
    {
        var ttft = new List<double>();
        var latency = new List<double>();
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (int r = 0; r < requests; r++)
            {
                string prompt = $"Client {c:D2} asks {r:D3}";
                string body = JsonSerializer.Serialize(new { model, prompt, max_tokens = maxTokens, temperature = 0, stream = true, stream_options = new { include_usage = true } });
                var sent = clock.Elapsed;
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                response.EnsureSuccessStatusCode();
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                double? first = null;
                string? line;
                while ((line = await reader.ReadLineAsync()) is not null)
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]") continue;
                    var chunk = JsonNode.Parse(line["data: ".Length..])!;
                    if (chunk["usage"] is JsonObject usage) Interlocked.Add(ref tokens, usage["completion_tokens"]!.GetValue<int>());
                    if (first is null && chunk["choices"] is JsonArray { Count: > 0 } choices && choices[0]!["text"]?.GetValue<string>() is { Length: > 0 })
                        first = (clock.Elapsed - sent).TotalMilliseconds;
                }
                lock (ttft)
                {
                    ttft.Add(first ?? (clock.Elapsed - sent).TotalMilliseconds);
                    latency.Add((clock.Elapsed - sent).TotalMilliseconds);
                }
            }
        })).ToArray();
        Task.WaitAll(tasks);
        double wall = clock.Elapsed.TotalSeconds;
        return new JsonObject
        {
            ["requests"] = ttft.Count,
            ["completion_tokens"] = tokens,
            ["wall_s"] = Math.Round(wall, 2),
            ["tokens_per_s"] = Math.Round(tokens / wall, 1),
            ["ttft_p50_ms"] = Math.Round(Percentile(ttft, 0.50), 1),
            ["ttft_p95_ms"] = Math.Round(Percentile(ttft, 0.95), 1),
            ["latency_p50_ms"] = Math.Round(Percentile(latency, 0.50), 1),
        };
    }

    /// <summary>Nearest-rank percentile.</summary>
    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    /// <summary>The load test of the test suite at its full length (SHARPSEEK_SERVE_LOAD_SECONDS=60), via scripts/test.</summary>
    private static JsonObject LoadTest(BenchContext context)
    {
        context.Log("load test: 32 streaming clients for 60 s, then 50 malformed requests (scripts/test)…");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Path.GetDirectoryName(Path.GetDirectoryName(Repo.File("scripts/test")))! };
        start.ArgumentList.Add(Repo.File("scripts/test"));
        start.ArgumentList.Add("--filter");
        start.ArgumentList.Add("FullyQualifiedName~ServerLoadTests");
        start.Environment["SHARPSEEK_SERVE_LOAD_SECONDS"] = "60";
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        string summary = stdout.Split('\n').LastOrDefault(l => l.StartsWith("tests:", StringComparison.Ordinal)) ?? "(no summary)";
        context.Log($"  {summary}");
        return new JsonObject
        {
            ["command"] = "SHARPSEEK_SERVE_LOAD_SECONDS=60 scripts/test --filter FullyQualifiedName~ServerLoadTests",
            ["what"] = "32 concurrent streaming chat clients for 60 s with 0 failures, then 50 malformed requests all answered 4xx, then the server still answers (tiny GPT-2)",
            ["passed"] = process.ExitCode == 0,
            ["summary"] = summary,
            ["elapsed_s"] = Math.Round(clock.Elapsed.TotalSeconds, 1),
        };
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("sharpseek-serve-bench-").FullName;
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
