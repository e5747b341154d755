using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using SharpSeek.Generation;
using SharpSeek.Generation.Serving;
using SharpSeek.Models.Common;
using SharpSeek.Server;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Tests.Server;

/// <summary>
/// Tiny model folders made with <c>sharpseek init</c> (gpt2 and deepseek tiny presets, byte tokenizer, vocab 320 so the
/// ChatML tokens fit) and servers over them on an ephemeral loopback port.
/// </summary>
internal static class ServerTestSupport
{
    public const string Gpt2 = "gpt2", DeepSeek = "deepseek";
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(60);

    private static readonly Lazy<TempDir> Root = new(() => new TempDir());
    private static readonly Dictionary<string, string> Folders = new();

    /// <summary>The folder of the tiny <paramref name="arch"/> model (created once per test run).</summary>
    public static string ModelFolder(string arch)
    {
        lock (Folders)
        {
            if (Folders.TryGetValue(arch, out var dir)) return dir;
            dir = Root.Value[$"tiny-{arch}"];
            var r = CliHarness.Run("init", "--arch", arch, "--preset", "tiny", "--set", "vocab_size=320", "--tokenizer", "byte", "--out", dir, "--seed", "3");
            Assert.True(r.ExitCode == 0, r.Stderr);
            Folders[arch] = dir;
            return dir;
        }
    }

    public static async Task<(ServedModel Model, OpenAiServer Server)> Start(string arch, ServerOptions? options = null, int maxBatch = 32)
    {
        var served = ServedModel.Load(ModelFolder(arch), batching: new ContinuousBatcherOptions { MaxBatchSize = maxBatch });
        var server = await OpenAiServer.StartAsync(served, (options ?? new ServerOptions()) with { Port = 0 });
        return (served, server);
    }

    /// <summary>What greedy decoding of the chat prompt gives alone (the reference for the served text).</summary>
    public static GenerationResult SoloChat(ServedModel served, string user, int maxTokens)
    {
        var template = served.Template!;
        var ids = template.RenderIds(served.Tokenizer, [new ChatMessage(ChatMessage.User, user)], addGenerationPrompt: true);
        int eot = template.EndOfTurnId(served.Tokenizer);
        var eos = served.Tokenizer.EosId is int e ? new[] { eot, e } : [eot];
        return new Generator(served.Model, served.Tokenizer).Generate([ids], new GenerationOptions { MaxNewTokens = maxTokens, EosTokenId = eos })[0];
    }

    public static int ChatPromptTokens(ServedModel served, string user) =>
        served.Template!.RenderIds(served.Tokenizer, [new ChatMessage(ChatMessage.User, user)], addGenerationPrompt: true).Count;

    public static HttpClient Client(OpenAiServer server, string? key = null)
    {
        var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = RequestTimeout };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public static StringContent Body(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Asserts OpenAI's error shape: {"error": {"message": string, "type": string, "param", "code"}}.</summary>
    public static JsonElement AssertErrorShape(string body)
    {
        using var doc = JsonDocument.Parse(body);
        var error = doc.RootElement.GetProperty("error");
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _));
        return error.Clone();
    }

    /// <summary>The data lines of a server-sent-events body, checking every non-empty line is one.</summary>
    public static List<string> SseData(string body)
    {
        var data = new List<string>();
        foreach (var line in body.Split('\n'))
        {
            if (line.Length == 0) continue;
            Assert.StartsWith("data: ", line);
            data.Add(line["data: ".Length..]);
        }
        return data;
    }
}
