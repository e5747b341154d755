using SharpSeek.Data.Tasks;

namespace SharpSeek.Tests.Data.Tasks;

public class TaskSplitsTests
{
    [Fact]
    public void PromptHash_KnownPrompt_MatchesIndependentComputation()
    {
        // FNV-1a 64 of "what is 1 + 2?" then the SplitMix64 finaliser, computed in Python.
        Assert.Equal(8543281657658878707UL, TaskSplits.PromptHash("What is 1 + 2?"));
    }

    [Fact]
    public void PromptHash_CaseAndWhitespaceDiffer_SameHash()
    {
        Assert.Equal(TaskSplits.PromptHash("what is 1 + 2?"), TaskSplits.PromptHash("  What   is 1 +\t2? \n"));
        Assert.NotEqual(TaskSplits.PromptHash("what is 1 + 2?"), TaskSplits.PromptHash("what is 2 + 1?"));
    }

    [Fact]
    public void Of_ManyDistinctPrompts_TestShareNearFraction()
    {
        int test = Enumerable.Range(0, 20_000).Count(i => TaskSplits.Of($"What is {i} + {i % 7}?") == TaskSplit.Test);
        Assert.InRange(test, 1_800, 2_200);                                  // 10% ± 1% (binomial sd ≈ 42)
        Assert.Equal(TaskSplit.Train, TaskSplits.Of("What is 1 + 2?"));    // hash fraction 0.463 ≥ 0.1
        Assert.Equal(TaskSplit.Test, TaskSplits.Of("What is 1 + 2?", testFraction: 0.5));
    }

    [Fact]
    public void Of_FractionOutOfRange_ThrowsConfigException()
    {
        Assert.Throws<ConfigException>(() => TaskSplits.Of("x", 1.5));
    }

    [Fact]
    public void Sample_LargeTrainSamples_NeverContainATestPrompt()
    {
        foreach (var g in TaskGenerators.All)
            for (int level = 1; level <= g.Levels; level++)
            {
                var test = TaskSampler.Sample(g, level, TaskSplit.Test, 200, seed: 0).Select(e => TaskSplits.NormalizePrompt(e.Prompt)).ToHashSet();
                Assert.NotEmpty(test);
                foreach (ulong seed in new ulong[] { 1, 2, 3 })
                {
                    var train = TaskSampler.Sample(g, level, TaskSplit.Train, 2_000, seed);
                    Assert.DoesNotContain(train, e => test.Contains(TaskSplits.NormalizePrompt(e.Prompt)));
                }
            }
    }

    [Fact]
    public void Sample_TestSplitFromDifferentSeeds_EveryPromptIsInTheTestSplit()
    {
        var g = new ArithmeticGenerator();
        var a = TaskSampler.Sample(g, 2, TaskSplit.Test, 50, seed: 1);
        var b = TaskSampler.Sample(g, 2, TaskSplit.Test, 50, seed: 99);
        Assert.All(a.Concat(b), e => Assert.Equal(TaskSplit.Test, TaskSplits.Of(e.Prompt)));
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void TestSet_CalledTwice_SameDistinctExamples()
    {
        var g = new LinearEquationGenerator();
        var a = TaskSampler.TestSet(g, 3, 40);
        Assert.Equal(a, TaskSampler.TestSet(g, 3, 40));
        Assert.Equal(40, a.Select(e => e.Prompt).Distinct().Count());
    }

    [Fact]
    public void Sample_MoreDistinctTestPromptsThanExist_ThrowsDataException()
    {
        // Level 1 arithmetic has 10 · 10 · 2 = 200 prompts, about 20 of them in the test split.
        var e = Assert.Throws<DataException>(() => TaskSampler.TestSet(new ArithmeticGenerator(), 1, 100));
        Assert.Contains("arithmetic", e.Message);
        Assert.Contains("level 1", e.Message);
    }
}
