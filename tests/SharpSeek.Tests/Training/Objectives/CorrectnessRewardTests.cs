using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

public class CorrectnessRewardTests
{
    private static Rollout R(string response, string? answer) => new("What is 2 + 3?", response, answer, [1, 2], 1);

    [Fact]
    public void Score_FinalAnswerMarkers_OneWhenEqualElseZero()
    {
        var scores = new CorrectnessReward().Score([R("2 + 3 = 5.\n#### 5", "5"), R("#### 6", "5"), R("5", "5"), R("\\boxed{5}", "5")]);
        Assert.Equal([1.0, 0.0, 0.0, 1.0], scores);
    }

    [Fact]
    public void Score_RolloutWithoutAnswer_ThrowsDataException()
    {
        var e = Assert.Throws<DataException>(() => new CorrectnessReward().Score([R("#### 5", "5"), R("#### 5", null)]));
        Assert.Contains("rollout 1", e.Message);
    }
}
