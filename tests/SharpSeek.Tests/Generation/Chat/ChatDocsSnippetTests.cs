using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using SharpSeek.Generation.Chat;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Generation.Chat;

/// <summary>docs/chat.md's C# example is compiled here (<see cref="Snippet"/>), run on a tiny model, and compared with the page line by line.</summary>
public partial class ChatDocsSnippetTests
{
    /// <summary>The example of docs/chat.md, verbatim between the markers; <paramref name="Console"/> stands in for System.Console.</summary>
    private static async Task Snippet(string modelDir, TextWriter Console)
    {
        // docs/chat.md begin
        using IChatClient client = SharpSeekChatClient.Load(modelDir);      // weights, tokenizer, chat template
        List<ChatMessage> history = [new(ChatRole.System, "You are a terse assistant."), new(ChatRole.User, "Hello!")];

        ChatResponse response = await client.GetResponseAsync(history, new ChatOptions { Temperature = 0.7f, MaxOutputTokens = 64, Seed = 1 });
        Console.WriteLine(response.Text);
        Console.WriteLine($"{response.Usage?.OutputTokenCount} tokens, finish: {response.FinishReason}");
        history.AddMessages(response);                                      // the conversation goes on

        history.Add(new(ChatRole.User, "Tell me more."));
        await foreach (ChatResponseUpdate update in client.GetStreamingResponseAsync(history, new ChatOptions { MaxOutputTokens = 32, StopSequences = ["\n\n"] }))
            Console.Write(update.Text);                                     // token by token
        // docs/chat.md end
    }

    [Fact]
    public async Task Snippet_TinyModel_RunsAndReportsUsage()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=320", "--set", "n_positions=256",
                               "--tokenizer", "byte", "--out", tmp["m"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var output = new StringWriter();
        await Snippet(tmp["m"], output);
        Assert.Matches(@"\n(64 tokens, finish: length|\d+ tokens, finish: stop)\n", output.ToString());
    }

    [Fact]
    public void Snippet_EqualsTheDocsExample()
    {
        string source = File.ReadAllText(ThisFile());
        var compiled = Lines(source[(source.IndexOf("// docs/chat.md begin", StringComparison.Ordinal) + 21)..source.IndexOf("// docs/chat.md end", StringComparison.Ordinal)]);
        string docs = File.ReadAllText(Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", "..", "..", "..", "docs", "chat.md"));
        var block = CSharpBlock().Match(docs);
        Assert.True(block.Success, "docs/chat.md has no ```csharp block");
        var documented = Lines(block.Groups[1].Value).Where(l => !UsingDirective().IsMatch(l)).ToList();
        Assert.Equal(compiled, documented);
    }

    private static List<string> Lines(string text) =>
        text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();

    private static string ThisFile([CallerFilePath] string path = "") => path;

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"^using [\w.]+;$")]
    private static partial Regex UsingDirective();
}
