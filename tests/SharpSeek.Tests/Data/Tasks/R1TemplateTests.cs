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

    [Fact]
    public void Apply_EachTemplate_LaysOutPromptAndCompletion()
    {
        var e = new TaskExample("What is 3 + 4?", "7", "3 + 4 = 7.\n#### 7");
        Assert.Same(e, R1Template.Apply(e, TaskTemplate.Plain));
        var r1 = R1Template.Apply(e, TaskTemplate.R1);
        Assert.Equal(("What is 3 + 4?", "<think>\n3 + 4 = 7.\n</think>\n<answer>7</answer>"), (r1.Prompt, r1.Completion));
        var table1 = R1Template.Apply(e, TaskTemplate.R1Table1);
        Assert.Equal((R1Template.Prompt("What is 3 + 4?"), r1.Completion), (table1.Prompt, table1.Completion));
        Assert.Equal(TaskTemplate.R1Table1, R1Template.ParseTemplate(R1Template.Name(TaskTemplate.R1Table1)));
        Assert.Throws<ConfigException>(() => R1Template.ParseTemplate("r1-zero"));
    }

    [Fact]
    public void TaggedScore_CountdownUnderTable1Prompt_EvaluatesTheTaggedExpression()
    {
        var e = R1Template.Apply(new TaskExample("Using the numbers 3, 4, 5, make 17. Use each number at most once, with + - * / and parentheses.", "3 * 4 + 5", ""), TaskTemplate.R1Table1);
        var countdown = new CountdownGenerator();
        Assert.Equal(1.0, Reward.TaggedScore(countdown, e, "<think>\nx\n</think>\n<answer>5 + 4 * 3</answer>"));   // another right expression
        Assert.Equal(0.0, Reward.TaggedScore(countdown, e, "<think>\nx\n</think>\n<answer>5 + 4 + 3</answer>"));   // 12
        Assert.Equal(0.0, Reward.TaggedScore(countdown, e, "#### 5 + 4 * 3"));                                         // no tag
        Assert.Equal(0.0, Reward.TaggedScore(countdown, e, "<answer>5 * 3 + 4 - 2</answer>"));                          // 2 is not given
    }

    [Fact]
    public void TaggedScore_NoTask_ComparesWithTheAnswerByValue()
    {
        var e = new TaskExample("What is 600 + 634?", "1234", "");
        Assert.Equal(1.0, Reward.TaggedScore(null, e, "<answer> 1,234 </answer>"));
        Assert.Equal(0.0, Reward.TaggedScore(null, e, "<answer>1234</answer><answer>1234</answer>"));
        Assert.Equal(0.0, Reward.TaggedScore(null, e, "<answer></answer>"));
    }
}
