using SharpSeek.Data.Prompts;
using SharpSeek.Data.Tasks;

namespace SharpSeek.Tests.Data.Tasks;

/// <summary>Which teacher solutions become reasoning distillation data (DeepSeek-R1 §2.3.3's rejection sampling by rule).</summary>
public class ReasoningTracesTests
{
    private static readonly PromptExample Sum = new("What is 3 + 4?", "7");
    private static readonly PromptExample Countdown = new("Using the numbers 3, 5, 7, make 22. Use each number at most once, with + - * / and parentheses.", null) { Task = "countdown" };

    [Theory]
    [InlineData("3 + 4 = 7\n#### 7", true)]
    [InlineData("3 + 4 = 8\n#### 8", false)]
    [InlineData("the answer is 7", false)]                                              // no final-answer marker
    [InlineData("<think>3 + 4 = 7</think> <answer>7</answer>", true)]
    [InlineData("<think>3 + 4 = 7</think> <answer>7</answer> more", false)]            // tags used: the strict format applies
    [InlineData("<answer>7</answer>", false)]                                           // no think block
    [InlineData("<think>hm</think>\n#### 7", false)]                                    // think without an answer tag
    public void Accept_SumPrompt_StrictForTaggedCompletionsCorrectnessOtherwise(string completion, bool expected) =>
        Assert.Equal(expected, ReasoningTraces.Accept(Sum, completion));

    [Theory]
    [InlineData("#### 3 * 5 + 7", true)]
    [InlineData("#### 7 * 3 + 1", false)]                                               // 1 is not one of the numbers
    [InlineData("<think>3*5=15, +7</think><answer>3 * 5 + 7</answer>", true)]
    [InlineData("<think>x</think><answer>3 + 5 + 7</answer>", false)]                   // 15, not 22
    public void Accept_CountdownPrompt_UsesTheTasksOwnCheck(string completion, bool expected) =>
        Assert.Equal(expected, ReasoningTraces.Accept(Countdown, completion));

    [Fact]
    public void Accept_PromptWithoutAnswerOrTask_AcceptsNothing() =>
        Assert.False(ReasoningTraces.Accept(new PromptExample("Say hi", null), "#### hi"));

    [Fact]
    public void Select_FourSamplesPerPrompt_KeepsDistinctAcceptedUpToCapAndCounts()
    {
        PromptExample[] prompts = [Sum, new("What is 2 + 2?", "4"), new("Say hi", null)];
        IReadOnlyList<(string, bool)>[] samples =
        [
            [("#### 7", true), (" #### 7 ", true), ("#### 8", true), ("1 + 6 = 7\n#### 7", true)],   // 3 accepted, 2 distinct after trimming
            [("#### 4", false), ("#### 5", true), ("#### 3", true), ("#### 1", true)],                  // the right one was unfinished
            [("#### hi", true), ("#### hi", true), ("#### hi", true), ("#### hi", true)],               // uncheckable: skipped
        ];
        var (traces, counts) = ReasoningTraces.Select(prompts, samples, maxPerPrompt: 2);
        Assert.Equal([("What is 3 + 4?", "#### 7"), ("What is 3 + 4?", "1 + 6 = 7\n#### 7")], traces.Select(t => (t.Prompt, t.Completion)));
        Assert.Equal(new TraceCounts(Prompts: 3, CheckedPrompts: 2, Samples: 8, UsableSamples: 7, AcceptedSamples: 3, PromptsWithTrace: 1, Kept: 2), counts);
        Assert.Equal(37.5, counts.SampleAccuracy);
    }

    [Fact]
    public void Select_CapOne_KeepsFirstAcceptedOnly()
    {
        var (traces, _) = ReasoningTraces.Select([Sum], [[("#### 8", true), ("so #### 7", true), ("#### 7", true)]], maxPerPrompt: 1);
        Assert.Equal("so #### 7", Assert.Single(traces).Completion);
    }
}
