using System.Net;
using System.Text.Json;
using SharpSeek.Generation.Serving;
using SharpSeek.Server;
using SharpSeek.Tests.Generation;
using SharpSeek.Tests.Generation.Serving;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using static SharpSeek.Tests.Server.ServerTestSupport;

namespace SharpSeek.Tests.Server;

/// <summary>The wire format with a raw HttpClient: SSE framing, completions, error shapes and statuses, API keys, disconnects.</summary>
public class HttpProtocolTests : IAsyncLifetime
{
    private ServedModel _served = null!;
    private OpenAiServer _server = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        (_served, _server) = await Start(Gpt2);
        _http = Client(_server);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
        _served.Dispose();
    }

    private async Task<(HttpStatusCode, string)> Post(string path, string json)
    {
        using var response = await _http.PostAsync(path, Body(json));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ChatStream_RawSse_DataLinesChunksUsageThenDone()
    {
        var (status, body) = await Post("v1/chat/completions",
            $$$"""{"model":"{{{_served.Id}}}","messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        var data = SseData(body);
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data.SkipLast(1).Select(d => JsonDocument.Parse(d).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var finishes = chunks.Where(c => c.GetProperty("choices").GetArrayLength() == 1
                                         && c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String).ToList();
        Assert.Single(finishes);
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        string text = string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() == 1)
            .Select(c => c.GetProperty("choices")[0].GetProperty("delta")).Where(d => d.TryGetProperty("content", out _)).Select(d => d.GetProperty("content").GetString()));
        Assert.Equal(SoloChat(_served, "Hi", 6).Text, text);
        Assert.Equal(ChatPromptTokens(_served, "Hi"), usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Completions_NWithSeedAndLogprobs_ReproducibleChoicesAndUsage()
    {
        string json = $$"""{"model":"{{_served.Id}}","prompt":"Once upon","max_tokens":8,"n":2,"seed":42,"temperature":1.0,"logprobs":2,"stop":["\n\n"]}""";
        var (status1, body1) = await Post("v1/completions", json);
        var (_, body2) = await Post("v1/completions", json);
        Assert.Equal(HttpStatusCode.OK, status1);
        var first = JsonDocument.Parse(body1).RootElement;
        var second = JsonDocument.Parse(body2).RootElement;
        Assert.Equal("text_completion", first.GetProperty("object").GetString());
        var choices = first.GetProperty("choices");
        Assert.Equal(2, choices.GetArrayLength());
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(i, choices[i].GetProperty("index").GetInt32());
            Assert.Equal(choices[i].GetProperty("text").GetString(), second.GetProperty("choices")[i].GetProperty("text").GetString());
            var lp = choices[i].GetProperty("logprobs");
            int n = lp.GetProperty("tokens").GetArrayLength();
            Assert.Equal(n, lp.GetProperty("token_logprobs").GetArrayLength());
            Assert.All(lp.GetProperty("token_logprobs").EnumerateArray(), v => Assert.True(v.GetDouble() <= 0));
        }
        var usage = first.GetProperty("usage");
        Assert.Equal(_served.Tokenizer.Encode("Once upon").Count, usage.GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task ModelsAndHealth_ListTheServedModel()
    {
        var models = JsonDocument.Parse(await _http.GetStringAsync("v1/models")).RootElement;
        Assert.Equal("list", models.GetProperty("object").GetString());
        Assert.Equal(_served.Id, models.GetProperty("data")[0].GetProperty("id").GetString());
        var health = JsonDocument.Parse(await _http.GetStringAsync("health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal(32, health.GetProperty("max_batch").GetInt32());
    }

    [Fact]
    public async Task Get_OnPostRoute_405InErrorShape()
    {
        using var response = await _http.GetAsync("v1/chat/completions");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("method_not_allowed", AssertErrorShape(await response.Content.ReadAsStringAsync()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Root_Get_200WithPageOrRoutes()
    {
        using var response = await _http.GetAsync("");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(response.Content.Headers.ContentType!.MediaType, new[] { "text/html", "text/plain" });
    }

    public static TheoryData<string, string, int, string?, string?> BadRequests() => new()
    {
        { "v1/chat/completions", """{"model": "M", "messages": [""", 400, null, null },
        { "v1/chat/completions", """[1, 2]""", 400, null, null },
        { "v1/chat/completions", """{"messages":[{"role":"user","content":"x"}]}""", 400, "model", "missing_required_parameter" },
        { "v1/chat/completions", """{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}""", 404, "model", "model_not_found" },
        { "v1/chat/completions", """{"model":"M"}""", 400, "messages", "missing_required_parameter" },
        { "v1/chat/completions", """{"model":"M","messages":[]}""", 400, "messages", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"wizard","content":"x"}]}""", 400, "messages[0].role", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"temperature":5}""", 400, "temperature", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"temperature":"hot"}""", 400, "temperature", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"top_p":0}""", 400, "top_p", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"n":0}""", 400, "n", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"max_tokens":0}""", 400, "max_tokens", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"max_tokens":100000}""", 400, "max_tokens", "context_length_exceeded" },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"stop":7}""", 400, "stop", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"presence_penalty":3}""", 400, "presence_penalty", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"top_logprobs":3}""", 400, "top_logprobs", null },
        { "v1/chat/completions", """{"model":"M","messages":[{"role":"user","content":"x"}],"stream":"yes"}""", 400, "stream", null },
        { "v1/completions", """{"model":"M"}""", 400, "prompt", "missing_required_parameter" },
        { "v1/completions", """{"model":"M","prompt":{"a":1}}""", 400, "prompt", null },
        { "v1/completions", """{"model":"M","prompt":[999999]}""", 400, "prompt", null },
        { "v1/completions", """{"model":"M","prompt":"x","logprobs":9}""", 400, "logprobs", null },
        { "v1/nothing-here", """{}""", 404, null, "unknown_url" },
    };

    [Theory, MemberData(nameof(BadRequests))]
    public async Task Post_InvalidRequest_OpenAiErrorShapeAndStatus(string path, string json, int status, string? param, string? code)
    {
        var (actual, body) = await Post(path, json.Replace("\"M\"", $"\"{_served.Id}\""));
        Assert.Equal(status, (int)actual);
        var error = AssertErrorShape(body);
        Assert.Equal(param, error.GetProperty("param").ValueKind == JsonValueKind.Null ? null : error.GetProperty("param").GetString());
        if (code is not null) Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("health")).StatusCode);     // still up
    }

    [Fact]
    public async Task Completions_NegativeOrHugeSeed_Accepted()
    {
        foreach (string seed in new[] { "-1", "-9223372036854775808", "9223372036854775807" })
        {
            var (status, body) = await Post("v1/completions", $$"""{"model":"{{_served.Id}}","prompt":"x","max_tokens":2,"seed":{{seed}}}""");
            Assert.True(status == HttpStatusCode.OK, body);
        }
    }

    [Fact]
    public async Task Completions_PromptLongerThanContext_400ContextLengthExceeded()
    {
        string prompt = new('a', _served.Batcher.Capacity + 5);
        var (status, body) = await Post("v1/completions", $$"""{"model":"{{_served.Id}}","prompt":"{{prompt}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("context_length_exceeded", AssertErrorShape(body).GetProperty("code").GetString());
    }

    [Fact]
    public async Task ApiKey_MissingOrWrong401_RightKey200_HealthOpen()
    {
        var (served, server) = await Start(Gpt2, new ServerOptions { ApiKey = "s3cret" });
        await using var _ = server;
        using var __ = served;
        string json = $$"""{"model":"{{served.Id}}","prompt":"x","max_tokens":2}""";
        foreach (var key in new string?[] { null, "wrong" })
        {
            using var client = Client(server, key);
            using var response = await client.PostAsync("v1/completions", Body(json));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("invalid_api_key", AssertErrorShape(await response.Content.ReadAsStringAsync()).GetProperty("code").GetString());
        }
        using var good = Client(server, "s3cret");
        Assert.Equal(HttpStatusCode.OK, (await good.PostAsync("v1/completions", Body(json))).StatusCode);
        using var anonymous = Client(server);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("health")).StatusCode);
    }

    [Theory]
    [InlineData("0.0.0.0", null, false, false)]
    [InlineData("0.0.0.0", "key", false, true)]
    [InlineData("0.0.0.0", null, true, true)]
    [InlineData("127.0.0.1", null, false, true)]
    [InlineData("localhost", null, false, true)]
    [InlineData("::1", null, false, true)]
    public void ListenAddress_NonLoopbackWithoutKey_RefusedUnlessAllowed(string host, string? key, bool allowRemote, bool accepted)
    {
        var options = new ServerOptions { Host = host, ApiKey = key, AllowRemote = allowRemote };
        if (accepted) Assert.NotNull(OpenAiServer.ListenAddress(options));
        else Assert.Contains("--api-key", Assert.Throws<ConfigException>(() => OpenAiServer.ListenAddress(options)).Message);
    }

    [Fact]
    public async Task Stream_ClientDisconnects_RequestCancelledAndRowsFreed()
    {
        var model = new GatedCausalLM(TestModels.Create(TestModels.Gpt2, vocabSize: 320, positions: 256));
        ITextTokenizer tokenizer = new ByteTokenizer();
        using var served = new ServedModel("gated", model, tokenizer, null);
        await using var server = await OpenAiServer.StartAsync(served, new ServerOptions { Port = 0 });
        using var pacing = new CancellationTokenSource();
        var pacer = Task.Run(async () => { while (!pacing.IsCancellationRequested) { model.Release(); await Task.Delay(10); } });
        try
        {
            // Its own connection, closed when the response is disposed (no draining of the unread stream).
            using (var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = server.BaseAddress })
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
                { Content = Body("""{"model":"gated","prompt":"Hello","max_tokens":200,"temperature":0,"stream":true}""") };
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                for (int chunks = 0; chunks < 3;)
                    if ((await reader.ReadLineAsync())?.StartsWith("data: ") == true) chunks++;
                Assert.Equal(1, served.Batcher.ActiveCount);
            }                                                                         // disconnect: the client and its connection are gone
            long stepsAtDisconnect = served.Batcher.Steps;
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (served.Batcher.ActiveCount > 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
            Assert.Equal(0, served.Batcher.ActiveCount);
            Assert.True(served.Batcher.Steps < stepsAtDisconnect + 100, $"decoding went on after the disconnect ({served.Batcher.Steps - stepsAtDisconnect} steps)");
        }
        finally
        {
            pacing.Cancel();
            await pacer;
            model.Release(100_000);
        }
    }

    [Fact]
    public async Task Chat_ModelWithoutTemplateTokens_400NotServerError()
    {
        var model = TestModels.Create(TestModels.Gpt2);                               // vocab 256: no room for ChatML tokens
        using var served = new ServedModel("plain", model, new ByteTokenizer(), ChatTemplates.ChatMl);
        await using var server = await OpenAiServer.StartAsync(served, new ServerOptions { Port = 0 });
        using var client = Client(server);
        using var response = await client.PostAsync("v1/chat/completions", Body("""{"model":"plain","messages":[{"role":"user","content":"x"}]}"""));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        AssertErrorShape(await response.Content.ReadAsStringAsync());
    }
}
