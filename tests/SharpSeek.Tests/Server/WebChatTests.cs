using Microsoft.Extensions.AI;
using SharpSeek.Generation.Chat;
using SharpSeek.Server;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Server;

/// <summary>The web chat page served at <c>/</c>, end to end in headless Chromium against the server on loopback.</summary>
public class WebChatTests
{
    [ChromiumFact]
    public async Task WebChat_TypeAndSend_StreamsGreedyReplyTokensPerSecondConversationReset()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=320", "--set", "n_positions=512",
                               "--set", "initializer_range=0.5", "--tokenizer", "byte", "--out", tmp["webchat"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var served = ServedModel.Load(tmp["webchat"]);
        await using var server = await OpenAiServer.StartAsync(served, new ServerOptions { Port = 0 });
        using var reference = new SharpSeekChatClient(served.Model, served.Tokenizer, served.Template!, served.Id);
        var greedy = (int max) => new ChatOptions { Temperature = 0, MaxOutputTokens = max };
        var first = await reference.GetResponseAsync([new ChatMessage(ChatRole.User, "Hello")], greedy(64));

        await using var browser = await HeadlessChromium.LaunchAsync();
        var page = await browser.OpenAsync(server.BaseAddress.ToString());
        await page.WaitForAsync($"document.getElementById('model').textContent === '{served.Id}'");
        await WebChatSteps.WatchRepliesAsync(page);
        await page.ThrottleAsync(bytesPerSecond: 16 << 10);                     // ~1 s for the reply's events: they arrive in many reads, however busy the machine

        var reply = await WebChatSteps.SendAsync(page, "Hello", temperature: 0, maxTokens: 64);
        Assert.Equal(first.Text, reply.Text);
        var growing = reply.Lengths.Where(n => n > 0).ToList();
        Assert.True(growing.Distinct().Count() >= 2, $"the reply appeared at once: lengths {string.Join(",", reply.Lengths)}");
        Assert.Equal(growing.Order(), growing);
        Assert.Equal(reply.Text.Length, growing[^1]);
        Assert.Equal((int)first.Usage!.OutputTokenCount!, reply.Tokens);
        Assert.True(reply.TokensPerSecond > 0);
        Assert.Matches($@"^{reply.Tokens} tokens · \d+\.\d tokens/s · first token after \d+ ms · (done|max tokens reached)$", reply.Stats);

        string artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
        Directory.CreateDirectory(artifacts);
        byte[] png = await page.ScreenshotAsync();
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        await File.WriteAllBytesAsync(Path.Combine(artifacts, "webchat.png"), png);

        // A second turn sends the conversation so far; Reset forgets it.
        var second = await reference.GetResponseAsync(
            [new ChatMessage(ChatRole.User, "Hello"), new ChatMessage(ChatRole.Assistant, first.Text), new ChatMessage(ChatRole.User, "Go on")], greedy(24));
        Assert.Equal(second.Text, (await WebChatSteps.SendAsync(page, "Go on", temperature: 0, maxTokens: 24)).Text);
        Assert.Equal(4, await WebChatSteps.MessageCountAsync(page));
        await page.ClickAsync("#reset");
        Assert.Equal(0, await WebChatSteps.MessageCountAsync(page));
        var again = await reference.GetResponseAsync([new ChatMessage(ChatRole.User, "Go on")], greedy(24));
        Assert.Equal(again.Text, (await WebChatSteps.SendAsync(page, "Go on", temperature: 0, maxTokens: 24)).Text);
    }
}
