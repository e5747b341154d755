using System.ClientModel;
using System.Text;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using static SharpSeek.Tests.Server.ServerTestSupport;

namespace SharpSeek.Tests.Server;

/// <summary>The official OpenAI .NET client and Microsoft.Extensions.AI's IChatClient against the server on loopback, both model families.</summary>
public class OpenAiClientTests
{
    private static ChatClient OpenAiChat(SharpSeek.Server.OpenAiServer server, string model, string key = "unused") =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(server.BaseAddress, "v1"), NetworkTimeout = RequestTimeout });

    [Theory, InlineData(Gpt2), InlineData(DeepSeek)]
    public async Task ChatClient_CompleteChat_GreedyTextAndUsageMatchSoloRun(string arch)
    {
        var (served, server) = await Start(arch);
        await using var _ = server;
        using var __ = served;
        var expected = SoloChat(served, "Hello there", 12);

        ChatCompletion reply = await OpenAiChat(server, served.Id).CompleteChatAsync(
            [new UserChatMessage("Hello there")], new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 });

        Assert.Equal(expected.Text, reply.Content.Count == 0 ? "" : reply.Content[0].Text);
        Assert.Equal(ChatPromptTokens(served, "Hello there"), reply.Usage.InputTokenCount);
        Assert.Equal(expected.FinishReason == SharpSeek.Generation.FinishReason.Length ? OpenAI.Chat.ChatFinishReason.Length : OpenAI.Chat.ChatFinishReason.Stop, reply.FinishReason);
        Assert.Equal(reply.Usage.InputTokenCount + reply.Usage.OutputTokenCount, reply.Usage.TotalTokenCount);
        Assert.Equal(served.Id, reply.Model);
    }

    [Theory, InlineData(Gpt2), InlineData(DeepSeek)]
    public async Task ChatClient_CompleteChatStreaming_ConcatenatedUpdatesEqualPlainReply(string arch)
    {
        var (served, server) = await Start(arch);
        await using var _ = server;
        using var __ = served;
        var expected = SoloChat(served, "Stream me", 16);

        var text = new StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in OpenAiChat(server, served.Id).CompleteChatStreamingAsync(
                           [new UserChatMessage("Stream me")], new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 0 }))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal(expected.Text, text.ToString());
        Assert.NotNull(finish);
        Assert.NotNull(usage);                                  // the client asks for stream_options.include_usage
        Assert.Equal(ChatPromptTokens(served, "Stream me"), usage!.InputTokenCount);
    }

    [Theory, InlineData(Gpt2), InlineData(DeepSeek)]
    public async Task IChatClient_GetResponseAndStreaming_MatchSoloRun(string arch)
    {
        var (served, server) = await Start(arch);
        await using var _ = server;
        using var __ = served;
        var expected = SoloChat(served, "Hi", 10);
        IChatClient client = OpenAiChat(server, served.Id).AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 10, Temperature = 0 };

        var response = await client.GetResponseAsync("Hi", options);
        var streamed = new StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync("Hi", options)) streamed.Append(update.Text);

        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(expected.Text, streamed.ToString());
        Assert.Equal(ChatPromptTokens(served, "Hi"), response.Usage!.InputTokenCount);
    }

    [Fact]
    public async Task ChatClient_WrongApiKey_ThrowsWith401()
    {
        var (served, server) = await Start(Gpt2, new SharpSeek.Server.ServerOptions { ApiKey = "right-key" });
        await using var _ = server;
        using var __ = served;

        var e = await Assert.ThrowsAsync<ClientResultException>(() => OpenAiChat(server, served.Id, "wrong-key").CompleteChatAsync([new UserChatMessage("x")],
                                                                   new ChatCompletionOptions { MaxOutputTokenCount = 2 }));
        Assert.Equal(401, e.Status);
        ChatCompletion ok = await OpenAiChat(server, served.Id, "right-key").CompleteChatAsync([new UserChatMessage("x")], new ChatCompletionOptions { MaxOutputTokenCount = 2 });
        Assert.True(ok.Usage.OutputTokenCount is > 0 and <= 2);
    }
}
