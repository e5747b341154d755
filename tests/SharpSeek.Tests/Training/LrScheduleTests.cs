using SharpSeek.Training;

namespace SharpSeek.Tests.Training;

public class LrScheduleTests
{
    // lr = 1, min_lr = 0.1, warmup = 4, decay = 14 (hand-computed: warmup (s+1)/5; cosine 0.1 + 0.45(1 + cos(π(s−4)/10)))
    [Theory]
    [InlineData(0, 0.2)]
    [InlineData(3, 0.8)]
    [InlineData(4, 1.0)]
    [InlineData(6, 0.91405765)]
    [InlineData(9, 0.55)]
    [InlineData(13, 0.12202457)]
    [InlineData(14, 0.1)]
    [InlineData(100, 0.1)]
    public void WarmupCosine_KnownSteps_MatchHandComputedValues(int step, double expected) =>
        Assert.Equal(expected, LrSchedule.WarmupCosine(step, 1.0, 0.1, 4, 14), 7);

    [Fact]
    public void WarmupCosine_NoWarmup_StartsAtPeak() =>
        Assert.Equal(2e-3, LrSchedule.WarmupCosine(0, 2e-3, 2e-4, 0, 10), 12);
}
