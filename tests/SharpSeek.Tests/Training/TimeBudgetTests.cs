using SharpSeek.Training;

namespace SharpSeek.Tests.Training;

public class TimeBudgetTests
{
    [Theory]
    [InlineData(60, 0, 60)]      // the warm-up is long enough to time
    [InlineData(2, 0, 6)]        // at least 6 steps, the last 3 timed
    [InlineData(0, 0, 6)]
    [InlineData(60, 100, 106)]   // resumed past the warm-up before the horizon was set
    public void MeasureUntil_WarmupAndStart_GiveHandCheckedStep(int warmup, int start, int expected) =>
        Assert.Equal(expected, TimeBudget.MeasureUntil(warmup, start));

    [Theory]
    [InlineData(0, 60, 30)]      // steps 31–60 timed
    [InlineData(0, 6, 3)]        // steps 4–6
    [InlineData(100, 106, 103)]
    [InlineData(0, 1, 1)]        // never the run's first step
    public void TimedAfter_Window_SecondHalf(int start, int measureUntil, int expected) =>
        Assert.Equal(expected, TimeBudget.TimedAfter(start, measureUntil));

    // n = ⌊((budget − elapsed)·0.98 − (e + k)) / (s + (e + k)/I + k/K)⌋
    [Theory]
    [InlineData(60, 12, 1800, 0.2, 1.5, 250, 0.3, 0, 8508)]   // ⌊(1788·0.98 − 1.8) / (0.2 + 1.8/250)⌋ = ⌊1750.44 / 0.2072⌋ = 8448
    [InlineData(10, 10, 110, 1.0, 2.0, 10, 0.5, 5, 80)]       // ⌊(100·0.98 − 2.5) / (1 + 0.25 + 0.1)⌋ = ⌊70.7⌋ = 70
    [InlineData(4, 4.2, 60, 1.0, 0.2, 10, 0, 0, 57)]          // ⌊(55.8·0.98 − 0.2) / 1.02⌋ = ⌊53.4⌋ = 53
    [InlineData(100, 1900, 1800, 0.2, 1.5, 250, 0.3, 0, 101)] // past the deadline: one more step
    public void HorizonSteps_Measurements_GiveHandCheckedHorizon(int done, double elapsed, double budget, double step, double eval,
                                                                int evalInterval, double checkpoint, int checkpointInterval, int expected) =>
        Assert.Equal(expected, TimeBudget.HorizonSteps(done, elapsed, budget, step, eval, evalInterval, checkpoint, checkpointInterval));

    [Fact]
    public void EstimateEvalSeconds_TwentyBatches_ThirdOfAStepEach() => Assert.Equal(2.0, TimeBudget.EstimateEvalSeconds(0.3, 20, 1), 12);

    [Fact]
    public void WithHorizon_SetsMaxStepsAndDecayOneStepEarlier()
    {
        var c = TimeBudget.WithHorizon(new TrainConfig { MaxSteps = 10, LrDecaySteps = 8 }, 500);
        Assert.Equal((500, 499, 499), (c.MaxSteps, c.LrDecaySteps, c.DecaySteps));
    }

    [Fact]
    public void WithHorizon_OneStepAfterWarmup_LastStepRunsAtMinLr()
    {
        var c = TimeBudget.WithHorizon(new TrainConfig { WarmupSteps = 60, Lr = 2e-3, MinLr = 2e-4 }, 61);
        Assert.Equal(2e-4, LrSchedule.For(c, 60), 15);                           // step index 60 is the last
    }

    [Fact]
    public void Validate_TimeScheduleWithoutMaxMinutes_ThrowsNamingMaxMinutes()
    {
        var e = Assert.Throws<ConfigException>(() => new TrainConfig { Schedule = "time" }.Validate());
        Assert.Contains("max_minutes", e.Message);
    }

    [Fact]
    public void Validate_UnknownSchedule_ThrowsNamingSchedule()
    {
        var e = Assert.Throws<ConfigException>(() => new TrainConfig { Schedule = "tokens" }.Validate());
        Assert.Contains("schedule", e.Message);
    }
}
