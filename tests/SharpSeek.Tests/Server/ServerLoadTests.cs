using System.Diagnostics;
using System.Net;
using System.Text.Json;
using static SharpSeek.Tests.Server.ServerTestSupport;

namespace SharpSeek.Tests.Server;

/// <summary>
/// Bounded load on loopback: 32 concurrent streaming clients for a fixed time with no failure, then 50 malformed requests
/// all answered 4xx, then the server still answers. The default suite runs 10 s; SHARPSEEK_SERVE_LOAD_SECONDS=60 (what
/// <c>bench/run serve</c> sets) runs the full minute.
/// </summary>
public class ServerLoadTests
{
    private const int Clients = 32;

    private static TimeSpan Duration() =>
        TimeSpan.FromSeconds(int.TryParse(Environment.GetEnvironmentVariable("SHARPSEEK_SERVE_LOAD_SECONDS"), out int s) && s > 0 ? s : 10);

    [Fact, Trait("Category", "Load")]
    public async Task Load_32StreamingClientsThenMalformedRequests_NoFailuresAndStillServing()
    {
        var (served, server) = await Start(Gpt2);
        await using var _ = server;
        using var __ = served;
        var duration = Duration();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Clients * 2 }) { BaseAddress = server.BaseAddress, Timeout = RequestTimeout };
        var clock = Stopwatch.StartNew();
        int completed = 0;
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();

        async Task Client(int c)
        {
            var rng = new Random(c);
            while (clock.Elapsed < duration)
            {
                try
                {
                    int maxTokens = rng.Next(4, 24);
                    string json = $$$"""{"model":"{{{served.Id}}}","messages":[{"role":"user","content":"client {{{c}}} says {{{rng.Next()}}}"}],"max_tokens":{{{maxTokens}}},"temperature":{{{(c % 2 == 0 ? "0" : "0.8")}}},"seed":{{{c}}},"stream":true,"stream_options":{"include_usage":true}}""";
                    using var response = await http.PostAsync("v1/chat/completions", Body(json));
                    string body = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode != HttpStatusCode.OK) { failures.Add($"{(int)response.StatusCode}: {body}"); continue; }
                    var data = SseData(body);
                    if (data[^1] != "[DONE]") { failures.Add("stream did not end with [DONE]"); continue; }
                    var usage = JsonDocument.Parse(data[^2]).RootElement.GetProperty("usage");
                    int tokens = usage.GetProperty("completion_tokens").GetInt32();
                    if (tokens < 1 || tokens > maxTokens) { failures.Add($"completion_tokens {tokens} outside 1..{maxTokens}"); continue; }
                    Interlocked.Increment(ref completed);
                }
                catch (Exception e) { failures.Add(e.GetType().Name + ": " + e.Message); }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Clients).Select(c => Task.Run(() => Client(c))));
        Assert.True(failures.IsEmpty, $"{failures.Count} failures, e.g. {failures.FirstOrDefault()}");
        Assert.True(completed >= Clients, $"only {completed} requests completed in {duration.TotalSeconds} s");
        Assert.True(served.Batcher.PeakBatchSize > 1, "requests were never batched together");

        string[] malformed =
        [
            "{", "[]", "null", """{"model":5}""", $$"""{"model":"{{served.Id}}"}""", $$"""{"model":"{{served.Id}}","messages":"hi"}""",
            $$"""{"model":"{{served.Id}}","messages":[{"role":"user","content":"x"}],"max_tokens":-1}""", """{"model":"nope","messages":[{"role":"user","content":"x"}]}""",
            $$"""{"model":"{{served.Id}}","messages":[{"role":"user","content":"x"}],"temperature":[]}""", "\u0000\u0001garbage",
        ];
        var statuses = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            using var response = await http.PostAsync(i % 3 == 0 ? "v1/completions" : "v1/chat/completions", Body(malformed[i % malformed.Length]));
            AssertErrorShape(await response.Content.ReadAsStringAsync());
            return (int)response.StatusCode;
        }));
        Assert.All(statuses, s => Assert.InRange(s, 400, 499));

        using var after = await http.PostAsync("v1/chat/completions", Body($$"""{"model":"{{served.Id}}","messages":[{"role":"user","content":"still there?"}],"max_tokens":3}"""));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }
}
