using SharpSeek.Data;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

public class RuleRewardsTests
{
    private static Rollout R(string response, string? answer = "72", string? task = null, string prompt = "q") =>
        new(prompt, response, answer, [1, 2], 1) { Task = task };

    private static double Accuracy(string response, string? answer = "72") => new AccuracyReward().Score([R(response, answer)])[0];

    [Theory]
    [InlineData("<think>6*12</think> <answer>72</answer>", 1.0)]
    [InlineData("<think>x</think><answer> 72. </answer>", 1.0)]                         // value comparison: spaces and a trailing period
    [InlineData("<answer>72</answer> and more text after it", 1.0)]                     // accuracy checks the answer only; format rejects this
    [InlineData("<think></think><answer>72</answer>", 1.0)]                             // empty think: the answer is still right
    [InlineData("<answer>71</answer>", 0.0)]
    [InlineData("</answer>72<answer>", 0.0)]                                            // tags out of order
    [InlineData("<answer><answer>72</answer></answer>", 0.0)]                           // nested tags: two of each
    [InlineData("<answer>72</answer><answer>72</answer>", 0.0)]                         // two answers
    [InlineData("<answer>72", 0.0)]                                                     // unclosed
    [InlineData("<answer></answer>", 0.0)]                                              // empty
    [InlineData("<answer>seventy-two</answer>", 0.0)]                                   // not a number
    [InlineData("#### 72", 0.0)]                                                        // not tagged: the strict reward wants the tag
    [InlineData("", 0.0)]
    public void AccuracyReward_AdversarialResponses_OnlyOneTaggedRightAnswerScores(string response, double expected) =>
        Assert.Equal(expected, Accuracy(response));

    [Fact]
    public void AccuracyReward_FortyDigitAnswer_ComparedExactly()
    {
        const string big = "1234567890123456789012345678901234567890";
        Assert.Equal(1.0, Accuracy($"<answer>{big}</answer>", big));
        Assert.Equal(0.0, Accuracy("<answer>1234567890123456789012345678901234567891</answer>", big));   // differs in the last digit only
        Assert.Equal(1.0, Accuracy("<answer>1,234,567,890,123,456,789,012,345,678,901,234,567,890</answer>", big));
    }

    [Theory]
    [InlineData("<think>3+4</think><answer>3 + 4</answer>", 1.0)]
    [InlineData("<think>3+4</think><answer>4+3</answer>", 1.0)]                          // any expression reaching the target
    [InlineData("<think>x</think><answer>3 * 4</answer>", 0.0)]                          // 12, not 7
    [InlineData("<think>x</think><answer>3 + 4 + 4</answer>", 0.0)]                      // 4 used twice
    [InlineData("<think>x</think><answer>7</answer>", 0.0)]                              // 7 is not among the numbers
    [InlineData("<think>x</think><answer>System.Exit(1)</answer>", 0.0)]
    public void AccuracyReward_CountdownTask_ChecksTheExpressionAgainstNumbersAndTarget(string response, double expected)
    {
        var rollout = R(response, answer: null, task: "countdown", prompt: "<|im_start|>user\nUsing the numbers 3, 4, make 7. Use each number at most once.");
        Assert.Equal(expected, new AccuracyReward().Score([rollout])[0]);
    }

    [Fact]
    public void AccuracyReward_NoAnswerNoTask_ThrowsDataException() =>
        Assert.Throws<DataException>(() => new AccuracyReward().Score([R("<answer>1</answer>", answer: null)]));

    [Theory]
    [InlineData("<think>6*12 = 72</think>\n<answer>72</answer>", 1.0)]
    [InlineData("  <think>r</think> <answer>x</answer>  ", 1.0)]
    [InlineData("<think> </think><answer>72</answer>", 0.0)]                             // empty think
    [InlineData("<answer>72</answer><think>r</think>", 0.0)]                              // out of order
    [InlineData("<think>r</think><answer>72</answer> trailing", 0.0)]                     // text after </answer>
    [InlineData("<think>r</think><answer>72", 0.0)]                                       // unclosed answer
    [InlineData("<think>r<answer>72</answer>", 0.0)]                                      // unclosed think
    [InlineData("<think>r</think><answer>1</answer><answer>2</answer>", 0.0)]             // two answers
    [InlineData("<think><think>r</think></think><answer>72</answer>", 0.0)]               // nested think
    [InlineData("<think>r</think><answer></answer>", 0.0)]                                // empty answer
    public void FormatReward_AdversarialLayouts_OnlyThinkThenOneAnswerScores(string response, double expected) =>
        Assert.Equal(expected, new FormatReward().Score([R(response)])[0]);

    /// <summary>A reward that throws on rollouts whose response contains "boom", else returns <paramref name="value"/>.</summary>
    private sealed class Fragile(double value) : IRewardFunction
    {
        public string Name => "fragile";
        public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts) =>
            rollouts.Select(r => r.Response.Contains("boom") ? throw new InvalidOperationException("boom") : value).ToList();
    }

    private sealed class Constant(string name, double value) : IRewardFunction
    {
        public string Name => name;
        public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts) => rollouts.Select(_ => value).ToList();
    }

    [Fact]
    public void WeightedRewards_TwoTerms_SumOfWeightedScores()
    {
        var rewards = new WeightedRewards([(new AccuracyReward(), 1.0), (new FormatReward(), 0.5)]);
        var (total, terms) = rewards.ScoreTerms([
            R("<think>r</think><answer>72</answer>"),          // 1·1 + 0.5·1
            R("<think>r</think><answer>71</answer>"),          // 1·0 + 0.5·1
            R("<answer>72</answer> trailing"),                 // 1·1 + 0.5·0
            R("nothing")]);                                    // 0
        Assert.Equal([1.5, 0.5, 1.0, 0.0], total);
        Assert.Equal([1.0, 0.0, 1.0, 0.0], terms["accuracy"]);
        Assert.Equal("accuracy+0.5·format", rewards.Name);
    }

    [Fact]
    public void WeightedRewards_FunctionThrowsOnOneRollout_ThatRolloutScoresZeroForItAndOneErrorIsCounted()
    {
        var rewards = new WeightedRewards([(new Fragile(2.0), 0.5), (new Constant("bonus", 1.0), 3.0)]);
        var total = rewards.Score([R("fine"), R("boom"), R("fine too")]);
        Assert.Equal([0.5 * 2 + 3, 0 + 3, 0.5 * 2 + 3], total);
        Assert.Equal(1, rewards.Errors);
        Assert.Contains("boom", rewards.LastError);
    }

    [Fact]
    public void WeightedRewards_NonFiniteScore_CountsAsAnErrorAndScoresZero()
    {
        var rewards = new WeightedRewards([(new Constant("nan", double.NaN), 1.0)]);
        Assert.Equal([0.0, 0.0], rewards.Score([R("a"), R("b")]));
        Assert.Equal(2, rewards.Errors);
    }

    [Fact]
    public void FromConfig_UnknownName_ThrowsConfigExceptionListingTheKnownOnes()
    {
        var e = Assert.Throws<ConfigException>(() => WeightedRewards.FromConfig(new Dictionary<string, double> { ["accuracy"] = 1, ["length"] = 1 }));
        Assert.Contains("'length'", e.Message);
        Assert.Contains("correctness", e.Message);
    }
}
