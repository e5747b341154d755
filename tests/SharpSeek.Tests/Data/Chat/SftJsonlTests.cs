using SharpSeek.Data.Tasks;
using SharpSeek.Data.Chat;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Tests.Data.Chat;

public class SftJsonlTests
{
    [Fact]
    public void Read_BothForms_GiveConversationsWithSourcesAndSystemPrompt()
    {
        using var dir = new TempDir();
        string path = dir.File("d.jsonl",
            """
            {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"}]}

            {"prompt": "p2", "completion": "c2"}
            """);
        var examples = SftJsonl.Read(path, systemPrompt: "Be brief.");
        Assert.Equal(2, examples.Count);
        Assert.Equal([new("system", "S"), new("user", "u1"), new("assistant", "a1")], examples[0].Messages);   // has its own system turn
        Assert.Equal([new("system", "Be brief."), new("user", "p2"), new("assistant", "c2")], examples[1].Messages);
        Assert.Equal($"{path}:3", examples[1].Source);                                                      // blank line 2 skipped
        Assert.Equal("u1", examples[0].Key);
    }

    [Theory]
    [InlineData("{\"prompt\": \"p\", \"completion\": \"c\"}\nnot json", 2, "not valid JSON")]
    [InlineData("[1, 2]", 1, "expected a JSON object")]
    [InlineData("{\"text\": \"x\"}", 1, "expected a JSON object with \"messages\"")]
    [InlineData("{\"prompt\": \"p\"}", 1, "missing field \"completion\"")]
    [InlineData("{\"prompt\": \"p\", \"completion\": 3}", 1, "field \"completion\" must be a string")]
    [InlineData("{\"prompt\": \"p\", \"completion\": \"  \"}", 1, "\"completion\" is empty")]
    [InlineData("{\"messages\": \"hi\"}", 1, "must be a list")]
    [InlineData("{\"messages\": [{\"role\": \"user\"}]}", 1, "missing field \"content\"")]
    [InlineData("{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"y\"}]}", 1, "role 'tool'")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"\"}]}", 1, "empty assistant message")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", 1, "no assistant message")]
    [InlineData("\n{\"messages\": [], \"prompt\": \"p\"}", 2, "both")]
    public void Read_BadLine_ThrowsDataExceptionNamingFileAndLine(string text, int line, string message)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.jsonl", text);
        var e = Assert.Throws<DataException>(() => SftJsonl.Read(path));
        Assert.StartsWith($"{path}:{line}: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Read_EmptyOrMissingFile_ThrowsDataException()
    {
        using var dir = new TempDir();
        string empty = dir.File("empty.jsonl", "\n  \n");
        Assert.Contains("has no examples", Assert.Throws<DataException>(() => SftJsonl.Read(empty)).Message);
        Assert.Contains("does not exist", Assert.Throws<DataException>(() => SftJsonl.Read(dir.File("none.jsonl"))).Message);
    }

    private static SftExample Example(string prompt) =>
        new([new ChatMessage("user", prompt), new ChatMessage("assistant", "a")], "x:1");

    [Fact]
    public void Split_SameFirstUserMessage_AlwaysSameSideAndFractionRoughlyKept()
    {
        var examples = Enumerable.Range(0, 2000).Select(i => Example($"question {i % 1000}")).ToList();   // each prompt twice
        var (train, val) = SftDataset.Split(examples, 0.1);
        Assert.Equal(2000, train.Count + val.Count);
        var valKeys = val.Select(e => e.Key).ToHashSet();
        Assert.DoesNotContain(train, e => valKeys.Contains(e.Key));                     // never both sides
        Assert.InRange(val.Count, 2 * 60, 2 * 140);                                       // ~10% of 1000 prompts
        var (train2, val2) = SftDataset.Split(examples.AsEnumerable().Reverse().ToList(), 0.1);
        Assert.Equal(valKeys, val2.Select(e => e.Key).ToHashSet());                      // depends on the text, not the order
    }

    [Fact]
    public void Split_TaskTrainSplitPromptsOnly_StillHoldsSomeOut()
    {
        // a train-split task export never holds a prompt of the task test split (TaskSplits, the same hash unsalted)
        var prompts = Enumerable.Range(0, 4000).Select(i => $"What is {i} + {i % 97}?").Where(p => TaskSplits.Of(p) == TaskSplit.Train).ToList();
        var (train, val) = SftDataset.Split(prompts.Select(Example).ToList(), 0.05);
        Assert.InRange(val.Count, prompts.Count * 3 / 100, prompts.Count * 7 / 100);
        Assert.Equal(prompts.Count, train.Count + val.Count);
    }

    [Fact]
    public void Load_ValDataFile_DropsTrainExamplesWithAHeldOutPrompt()
    {
        using var dir = new TempDir();
        string data = dir.File("d.jsonl", "{\"prompt\": \"A\", \"completion\": \"1\"}\n{\"prompt\": \"b \", \"completion\": \"2\"}\n{\"prompt\": \"C\", \"completion\": \"3\"}\n");
        string val = dir.File("v.jsonl", "{\"prompt\": \"B\", \"completion\": \"9\"}\n");
        var tok = ChatTemplates.ChatMl.WithSpecialTokens(SharpSeek.Tokenization.CharTokenizer.FromCorpus("ABCabc123456789 userassistant\n"));
        var data2 = SftDataset.Load(data, val, 0.05, null, ChatTemplates.ChatMl, tok, blockSize: 64);
        Assert.Equal((2, 1, 1), (data2.Train.Count, data2.Val.Count, data2.Overlap));   // "b " normalises to "B"'s key
    }
}
