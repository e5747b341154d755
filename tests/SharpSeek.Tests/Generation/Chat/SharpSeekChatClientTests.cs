using Microsoft.Extensions.AI;
using SharpSeek.Generation;
using SharpSeek.Generation.Chat;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization.Chat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;
using ChatTemplates = SharpSeek.Tokenization.Chat.ChatTemplates;

namespace SharpSeek.Tests.Generation.Chat;

public class SharpSeekChatClientTests
{
    /// <summary>A tiny random model of <paramref name="family"/> with the byte tokenizer plus its template's special tokens (ChatML for GPT-2, DeepSeek's for DeepSeek).</summary>
    internal static SharpSeekChatClient Client(string family, GenerationOptions? defaults = null)
    {
        var template = family == TestModels.Gpt2 ? ChatTemplates.ChatMl : ChatTemplates.DeepSeek;
        var tokenizer = template.WithSpecialTokens(new ByteTokenizer());
        return new SharpSeekChatClient(TestModels.Create(family, vocabSize: 260, positions: 128), tokenizer, template, "tiny-" + family, defaults);
    }

    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "Hello")];

    /// <summary>What the generator itself gives for the same prompt and settings.</summary>
    private static GenerationResult Reference(SharpSeekChatClient client, IList<ChatMessage> messages, GenerationOptions options) =>
        new Generator(client.Model, client.Tokenizer).Generate([client.PromptIds(messages)], options)[0];

    private static async Task<List<ChatResponseUpdate>> Collect(IAsyncEnumerable<ChatResponseUpdate> stream)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in stream) updates.Add(u);
        return updates;
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public async Task GetResponseAsync_Greedy_EqualsGeneratorOutput(string family)
    {
        using var client = Client(family);
        var response = await client.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 20, Temperature = 0 });
        var expected = Reference(client, Hello, client.Template.ForChat(client.Tokenizer, new GenerationOptions { MaxNewTokens = 20 }));
        Assert.Equal(expected.Text, response.Text);
        Assert.True(expected.Text.Length > 0);
        Assert.Equal(ChatRole.Assistant, response.Messages.Single().Role);
        Assert.Equal(expected.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(client.PromptIds(Hello).Count, response.Usage!.InputTokenCount);
        Assert.Equal(expected.TokenIds.Count, response.Usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.Equal("tiny-" + family, response.ModelId);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public async Task GetStreamingResponseAsync_Sampled_ConcatenationEqualsResponse(string family)
    {
        using var client = Client(family);
        var options = new ChatOptions { MaxOutputTokens = 24, Temperature = 0.9f, Seed = 5 };
        var updates = await Collect(client.GetStreamingResponseAsync(Hello, options));
        var response = await client.GetResponseAsync(Hello, options);
        Assert.Equal(response.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.True(updates.Count(u => u.Text.Length > 0) >= 2, $"{updates.Count} updates");
        Assert.All(updates.SkipLast(1), u => Assert.Null(u.FinishReason));
        Assert.NotNull(updates[^1].FinishReason);
        Assert.Single(updates.SelectMany(u => u.Contents).OfType<UsageContent>());
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
    }

    [Fact]
    public async Task GetResponseAsync_MaxOutputTokens_StopsWithLength()
    {
        using var client = Client(TestModels.Gpt2);
        var response = await client.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 5 });
        Assert.Equal(5, response.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
    }

    [Fact]
    public async Task GetResponseAsync_StopSequence_CutsBeforeItFinishStop()
    {
        using var client = Client(TestModels.Gpt2);
        string full = (await client.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 20 })).Text;
        string stop = full.Substring(4, 2);
        var response = await client.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 20, StopSequences = [stop] });
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
    }

    [Fact]
    public async Task GetResponseAsync_SameSeed_SameTextOtherSeed_Differs()
    {
        using var client = Client(TestModels.DeepSeek);
        ChatOptions Options(long seed) => new() { MaxOutputTokens = 16, Temperature = 1.5f, Seed = seed };
        string a = (await client.GetResponseAsync(Hello, Options(1))).Text;
        Assert.Equal(a, (await client.GetResponseAsync(Hello, Options(1))).Text);
        Assert.NotEqual(a, (await client.GetResponseAsync(Hello, Options(2))).Text);
    }

    [Fact]
    public async Task GetResponseAsync_PresencePenalty_MapsToGeneratorNoTokenRepeated()
    {
        using var client = Client(TestModels.Gpt2);
        var response = await client.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 30, PresencePenalty = 100 });
        var expected = Reference(client, Hello, client.Defaults with { MaxNewTokens = 30, PresencePenalty = 100 });
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(expected.TokenIds.Count, expected.TokenIds.Distinct().Count());
        var plain = Reference(client, Hello, client.Defaults with { MaxNewTokens = 30 });
        Assert.NotEqual(plain.TokenIds.Count, plain.TokenIds.Distinct().Count());      // without it the tiny model repeats
    }

    [Fact]
    public void ToGenerationOptions_ChatOptions_MappedToEngine()
    {
        using var client = Client(TestModels.Gpt2);
        var g = client.ToGenerationOptions(new ChatOptions
        {
            Temperature = 0.5f, TopP = 0.75f, TopK = 7, MaxOutputTokens = 9, StopSequences = ["x"], Seed = 3, PresencePenalty = 0.25f, FrequencyPenalty = 0.5f,
        }, promptLength: 10);
        Assert.True(g.DoSample);
        Assert.Equal((0.5, 0.75, 7, 9, 3L, 0.25, 0.5), (g.Temperature, g.TopP, g.TopK, g.MaxNewTokens, g.Seed, g.PresencePenalty, g.FrequencyPenalty));
        Assert.Equal(["x"], g.StopStrings!);
        Assert.Equal([ChatTemplates.ChatMl.EndOfTurnId(client.Tokenizer)], g.EosTokenId!);
        var greedy = client.ToGenerationOptions(null, promptLength: 10);
        Assert.True(greedy.IsGreedy);
        Assert.Equal(128 - 10, greedy.MaxNewTokens);                                  // the rest of the context
    }

    [Fact]
    public async Task GetResponseAsync_OtherModelId_Refused()
    {
        using var client = Client(TestModels.Gpt2);
        var e = await Assert.ThrowsAsync<GenerationException>(() => client.GetResponseAsync(Hello, new ChatOptions { ModelId = "gpt-4o" }));
        Assert.Contains("gpt-4o", e.Message);
        Assert.Equal(1, (await client.GetResponseAsync(Hello, new ChatOptions { ModelId = "tiny-gpt2", MaxOutputTokens = 1 })).Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_Cancelled_StopsAndClientStillAnswers()
    {
        using var client = Client(TestModels.Gpt2);
        using var cts = new CancellationTokenSource();
        int received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 50 }, cts.Token))
            {
                received++;
                cts.Cancel();
            }
        });
        Assert.Equal(1, received);
        var after = await client.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 3 });      // the model was released
        Assert.Equal(3, after.Usage!.OutputTokenCount);
    }

    [Fact]
    public void PromptIds_Instructions_LeadTheSystemMessage()
    {
        using var client = Client(TestModels.Gpt2);
        var explicitSystem = client.PromptIds([new ChatMessage(ChatRole.System, "Be brief."), .. Hello]);
        Assert.Equal(explicitSystem, client.PromptIds(Hello, new ChatOptions { Instructions = "Be brief." }));
        string text = client.Tokenizer.Decode(explicitSystem);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void GetService_MetadataModelAndClient()
    {
        using var client = Client(TestModels.DeepSeek);
        Assert.Equal("tiny-deepseek", client.GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.Same(client.Model, client.GetService<SharpSeek.Models.Common.CausalLM>());
        Assert.Same(client, client.GetService<SharpSeekChatClient>());
        Assert.Null(client.GetService<ChatClientMetadata>("key"));
    }

    [Fact]
    public void Fit_LongConversation_DropsOldestTurnsKeepsSystem()
    {
        using var client = Client(TestModels.Gpt2);
        var conversation = new List<ChatMessage> { new(ChatRole.System, "sys") };
        for (int i = 0; i < 6; i++)
        {
            conversation.Add(new ChatMessage(ChatRole.User, $"question {i}"));
            conversation.Add(new ChatMessage(ChatRole.Assistant, $"answer {i}"));
        }
        conversation.Add(new ChatMessage(ChatRole.User, "last"));
        var (kept, dropped) = ChatHistory.Fit(client, conversation, maxOutputTokens: 32);
        Assert.True(dropped > 0 && dropped % 2 == 0, $"dropped {dropped}");
        Assert.Equal(conversation.Count - dropped, kept.Count);
        Assert.Equal("sys", kept[0].Text);
        Assert.Equal(ChatRole.User, kept[1].Role);
        Assert.Equal("last", kept[^1].Text);
        Assert.True(client.PromptIds(kept).Count <= 128 - 32);
        var withOneMore = conversation.Take(1).Concat(conversation.Skip(1 + dropped - 2)).ToList();
        Assert.True(client.PromptIds(withOneMore).Count > 128 - 32);                 // the oldest kept turn is the first that fits
    }

    [Fact]
    public void Fit_LastMessageTooLong_Throws()
    {
        using var client = Client(TestModels.Gpt2);
        Assert.Throws<GenerationException>(() => ChatHistory.Fit(client, [new ChatMessage(ChatRole.User, new string('a', 120))], maxOutputTokens: 32));
    }

    [Fact]
    public async Task Load_InitFolderWithoutChatTokens_AddsThemInMemoryAndAnswers()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=320", "--set", "n_positions=64",
                               "--tokenizer", "byte", "--out", tmp["m"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var client = SharpSeekChatClient.Load(tmp["m"]);
        Assert.Equal(2, client.SpecialTokensAdded);
        Assert.Equal("m", client.ModelId);
        Assert.Same(ChatTemplates.ChatMl, client.Template);
        var response = await client.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 4 });
        Assert.Equal(4, response.Usage!.OutputTokenCount);
    }

    [Fact]
    public void Load_NoRoomForChatTokens_ConfigException()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=257", "--set", "n_positions=64",
                               "--tokenizer", "byte", "--out", tmp["m"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var e = Assert.Throws<ConfigException>(() => SharpSeekChatClient.Load(tmp["m"]));
        Assert.Contains("no room", e.Message);
    }
}
