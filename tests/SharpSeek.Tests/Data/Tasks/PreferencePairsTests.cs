using System.Text.Json;
using SharpSeek.Data.Tasks;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Data.Tasks;

public class PreferencePairsTests
{
    // Correct (score 1): A, C (A sampled twice); wrong: B, D.
    private static readonly ScoredSamples Mixed = new("q", ["A", "B", "A", "C", "D"], [1, 0, 1, 1, 0]);

    [Fact]
    public void ForPrompt_CapThree_DiagonalOrderWithoutRepeats()
    {
        var pairs = PreferencePairs.ForPrompt(Mixed, 3);
        Assert.Equal([new("q", "A", "B"), new("q", "C", "D"), new PreferencePair("q", "A", "D")], pairs);
    }

    [Fact]
    public void ForPrompt_LargeCap_EveryCorrectWrongCombinationOnce()
    {
        var pairs = PreferencePairs.ForPrompt(Mixed, 10);
        Assert.Equal([new("q", "A", "B"), new("q", "C", "D"), new("q", "A", "D"), new PreferencePair("q", "C", "B")], pairs);
    }

    [Fact]
    public void ForPrompt_ThreeCorrectOneWrong_EachCorrectAgainstTheWrong()
    {
        var pairs = PreferencePairs.ForPrompt(new("q", ["x", "y", "z", "w"], [1, 0.0, 1, 1]), 8);
        Assert.Equal(["x", "z", "w"], pairs.Select(p => p.Chosen));
        Assert.All(pairs, p => Assert.Equal("y", p.Rejected));
    }

    [Fact]
    public void ForPrompt_AllCorrectOrAllWrong_NoPairs()
    {
        Assert.Empty(PreferencePairs.ForPrompt(new("q", ["a", "b"], [1, 1]), 4));
        Assert.Empty(PreferencePairs.ForPrompt(new("q", ["a", "b"], [0, 0.5]), 4));
    }

    [Fact]
    public void Build_TwoPrompts_CountsPromptsPairsAndSamples()
    {
        var (pairs, counts) = PreferencePairs.Build([Mixed, new("r", ["a", "b"], [1, 1])], 2);
        Assert.Equal(2, pairs.Count);
        Assert.Equal(new PairCounts(Prompts: 2, MixedPrompts: 1, Pairs: 2, Samples: 7, CorrectSamples: 5), counts);
    }

    [Fact]
    public void ForPrompt_CapZero_ConfigException() =>
        Assert.Throws<ConfigException>(() => PreferencePairs.ForPrompt(Mixed, 0));

    [Fact]
    public void Write_OnePair_PromptChosenRejectedLine()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        PreferencePairs.Write(tmp["p.jsonl"], [new("What is 1 + 2?", "#### 3", "#### 4")]);
        var line = Assert.Single(File.ReadAllLines(tmp["p.jsonl"]));
        Assert.Equal("""{"prompt":"What is 1 + 2?","chosen":"#### 3","rejected":"#### 4"}""", line);
        Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(line).RootElement.ValueKind);
    }
}
