using SharpSeek.Data;
using SharpSeek.Data.Preference;
using SharpSeek.Tests.Training.Objectives;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Tests.Data.Preference;

public class PreferenceJsonlTests
{
    private const string Good = """{"prompt": "hi", "chosen": "hello!", "rejected": "go away."}""";

    private static DataException ReadError(params string[] lines)
    {
        using var dir = new SharpSeek.Tests.TestSupport.TempDir();
        string path = PreferenceTestData.WriteJsonl(dir["pairs.jsonl"], lines);
        var e = Assert.Throws<DataException>(() => PreferenceJsonl.Read(path));
        Assert.Contains(path, e.Message);
        return e;
    }

    [Fact]
    public void Read_StringAndMessagePrompts_GivesPairsWithSource()
    {
        using var dir = new SharpSeek.Tests.TestSupport.TempDir();
        string path = PreferenceTestData.WriteJsonl(dir["pairs.jsonl"],
        [
            Good, "",
            """{"prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hey"}], "rejected": "no"}""",
        ]);
        var pairs = PreferenceJsonl.Read(path);
        Assert.Equal(2, pairs.Count);
        Assert.Equal([new ChatMessage("user", "hi")], pairs[0].Prompt);
        Assert.Equal(("hello!", "go away."), (pairs[0].Chosen, pairs[0].Rejected));
        Assert.Equal([new ChatMessage("system", "Be kind."), new ChatMessage("user", "hi")], pairs[1].Prompt);
        Assert.Equal(("hey", "no"), (pairs[1].Chosen, pairs[1].Rejected));
        Assert.Equal($"{path}:3", pairs[1].Source);
    }

    [Fact]
    public void Read_LineNotJson_NamesFileAndLine() => Assert.Contains("pairs.jsonl:2: not valid JSON", ReadError(Good, "{prompt: hi").Message);

    [Fact]
    public void Read_MissingRejected_NamesFieldAndLine() =>
        Assert.Contains(":1: missing field \"rejected\"", ReadError("""{"prompt": "a", "chosen": "b"}""").Message);

    [Fact]
    public void Read_EmptyChosen_NamesFieldAndLine() =>
        Assert.Contains(":2: \"chosen\" is empty", ReadError(Good, """{"prompt": "a", "chosen": " ", "rejected": "b"}""").Message);

    [Fact]
    public void Read_IdenticalCompletions_IsAnError() =>
        Assert.Contains(":1: \"chosen\" and \"rejected\" are identical", ReadError("""{"prompt": "a", "chosen": "b", "rejected": "b"}""").Message);

    [Fact]
    public void Read_UnknownRole_IsAnError() =>
        Assert.Contains(":1: prompt[0] has role \"bot\"", ReadError("""{"prompt": [{"role": "bot", "content": "x"}], "chosen": "b", "rejected": "c"}""").Message);

    [Fact]
    public void Read_EmptyFile_IsAnError() => Assert.Contains("no preference pairs", ReadError("", "  ").Message);

    [Fact]
    public void HashSplit_ReorderedPairs_HoldsOutTheSamePairs()
    {
        var pairs = PreferenceTestData.ToyLines(200).Select((l, i) => PreferenceJsonl.Parse(l, $"x:{i}")).ToList();
        var (train, val) = PreferenceBatches.HashSplit(pairs, 0.1);
        var (_, valReversed) = PreferenceBatches.HashSplit(pairs.AsEnumerable().Reverse().ToList(), 0.1);
        Assert.Equal(200, train.Count + val.Count);
        Assert.InRange(val.Count, 8, 35);                                                   // ≈ 10 % of 200
        Assert.Equal(val.Select(p => p.Source).Order(), valReversed.Select(p => p.Source).Order());
    }

    [Fact]
    public void HashSplit_TwoPairs_KeepsOneOfEach()
    {
        var pairs = PreferenceTestData.ToyLines(2).Select((l, i) => PreferenceJsonl.Parse(l, $"x:{i}")).ToList();
        var (train, val) = PreferenceBatches.HashSplit(pairs, 0.01);
        Assert.Single(train);
        Assert.Single(val);
    }

    [Fact]
    public void Encode_PromptAndCompletion_MasksOnlyTheAnswerAndEndOfTurn()
    {
        using var dir = new SharpSeek.Tests.TestSupport.TempDir();
        var tokenizer = PreferenceTestData.Tokenizer(PreferenceTestData.ModelFolder(dir["m"], "gpt2"));
        var pair = PreferenceJsonl.Parse(Good, "x:1");
        var e = PreferenceEncoding.Encode(ChatTemplates.ChatMl, tokenizer, pair.Prompt, pair.Chosen, 100, pair.Source);
        var completion = e.Ids.Where((_, i) => e.CompletionMask[i]).ToList();
        Assert.Equal("hello!<|im_end|>", tokenizer.Decode(completion.Take(completion.Count - 1).ToList()) + tokenizer.Decode([completion[^1]]).TrimEnd('\n'));
        Assert.StartsWith("<|im_start|>user\nhi<|im_end|>", tokenizer.Decode(e.Ids.Where((_, i) => !e.CompletionMask[i]).ToList()));
    }

    [Fact]
    public void Encode_LongerThanMaxLength_NamesSource()
    {
        using var dir = new SharpSeek.Tests.TestSupport.TempDir();
        var tokenizer = PreferenceTestData.Tokenizer(PreferenceTestData.ModelFolder(dir["m"], "gpt2"));
        var pair = PreferenceJsonl.Parse(Good, "pairs.jsonl:4");
        var e = Assert.Throws<DataException>(() => PreferenceEncoding.Encode(ChatTemplates.ChatMl, tokenizer, pair, 8));
        Assert.StartsWith("pairs.jsonl:4: the conversation encodes to", e.Message);
    }
}
