using System.Text.Json;
using SharpSeek.Data.Tasks;
using SharpSeek.Tests.Data;

namespace SharpSeek.Tests.Data.Tasks;

public class SftJsonlWriterTests
{
    private static readonly TaskExample[] Examples =
    [
        new("What is 47 + 38?", "85", "<think>7 + 8 = 15 \"carry\"</think>\n#### 85"),
        new("Schreibe »Käse« rückwärts.", "esäk", "#### esäk"),
    ];

    [Fact]
    public void WritePromptCompletion_TwoExamples_OneObjectPerLineRoundTrips()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "sft.jsonl");
        SftJsonlWriter.WritePromptCompletion(path, Examples);
        var lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            Assert.Equal(["prompt", "completion"], doc.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(Examples[i].Prompt, doc.RootElement.GetProperty("prompt").GetString());
            Assert.Equal(Examples[i].Completion, doc.RootElement.GetProperty("completion").GetString());
        }
        Assert.Contains("<think>", lines[0]);                                   // not escaped as \u003C
    }

    [Fact]
    public void WriteMessages_WithSystemPrompt_SystemUserAssistantTurns()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "chat.jsonl");
        SftJsonlWriter.WriteMessages(path, Examples, systemPrompt: "Answer with #### <answer>.");
        var lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        using var doc = JsonDocument.Parse(lines[1]);
        var turns = doc.RootElement.GetProperty("messages").EnumerateArray()
            .Select(m => (m.GetProperty("role").GetString(), m.GetProperty("content").GetString())).ToList();
        Assert.Equal([("system", "Answer with #### <answer>."), ("user", Examples[1].Prompt), ("assistant", Examples[1].Completion)], turns);
    }

    [Fact]
    public void WriteMessages_NoSystemPrompt_UserThenAssistant()
    {
        using var dir = new TempDir();
        string path = Path.Combine(dir.Path, "chat.jsonl");
        SftJsonlWriter.WriteMessages(path, Examples.Take(1));
        using var doc = JsonDocument.Parse(File.ReadAllLines(path).Single());
        Assert.Equal(["user", "assistant"], doc.RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString()));
    }

    [Fact]
    public void WritePromptCompletion_EmptyCompletion_ThrowsAndKeepsTheExistingFile()
    {
        using var dir = new TempDir();
        string path = dir.File("sft.jsonl", "old contents\n");
        var e = Assert.Throws<DataException>(() =>
            SftJsonlWriter.WritePromptCompletion(path, [Examples[0], new TaskExample("What is 1 + 1?", "2", " ")]));
        Assert.Contains("example 1", e.Message);
        Assert.Equal("old contents\n", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));                            // no temp file left behind
    }
}
