using SharpSeek.Data.Tasks;

namespace SharpSeek.Tests.Data.Tasks;

public class R1TemplateTests
{
    [Fact]
    public void Completion_WorkedExample_MovesWorkIntoThinkAndAnswerIntoTags()
    {
        var e = new TaskExample("What is 3 + 4?", "7", "3 + 4 = 7.\n#### 7");
        Assert.Equal("<think>\n3 + 4 = 7.\n</think>\n<answer>7</answer>", R1Template.Completion(e));
    }

    [Fact]
    public void Prompt_Question_EndsWithUserTurnAndAssistantCue()
    {
        string p = R1Template.Prompt("What is 3 + 4?");
        Assert.StartsWith("A conversation between User and Assistant.", p);
        Assert.EndsWith("<answer> answer here </answer>. User: What is 3 + 4? Assistant:", p);
    }

    [Fact]
    public void Completion_EveryGenerator_ScoresOneOnFormatAndTaggedAnswer()
    {
        foreach (var g in TaskGenerators.All)
            for (int level = 1; level <= g.Levels; level++)
                foreach (var e in TaskSampler.Sample(g, level, TaskSplit.Train, 20, seed: 4))
                {
                    var r1 = R1Template.Apply(e);
                    Assert.Equal(1.0, Reward.Format(r1.Completion));
                    Assert.Equal(e.Answer, AnswerChecker.ExtractTaggedAnswer(r1.Completion));
                    Assert.Equal(1.0, g.Score(e, r1.Completion));
                }
    }

    [Fact]
    public void Completion_NoWorkedSteps_ThinkBlockStillNonEmpty()
    {
        var e = new TaskExample("What is 3 + 4?", "7", "#### 7");
        Assert.Equal(1.0, Reward.Format(R1Template.Completion(e)));
    }
}
