using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

public class KlControllerTests
{
    [Fact]
    public void Update_KlFarAboveTarget_BetaGrowsByClippedErrorTimesBatchOverHorizon()
    {
        // KL/target − 1 = 9/6 − 1 = 0.5, clipped to 0.2: β = 0.1·(1 + 0.2·64/10000) = 0.100128
        Assert.Equal(0.100128, KlController.Update(0.1, kl: 9, target: 6, rollouts: 64, horizon: 10000), 12);
    }

    [Fact]
    public void Update_KlSlightlyBelowTarget_BetaShrinksByUnclippedError()
    {
        // KL/target − 1 = 5.4/6 − 1 = −0.1: β = 0.1·(1 − 0.1·64/10000) = 0.099936
        Assert.Equal(0.099936, KlController.Update(0.1, kl: 5.4, target: 6, rollouts: 64, horizon: 10000), 12);
    }

    [Fact]
    public void Update_KlZero_BetaShrinksByAtMostTwentyPercentPerHorizon()
    {
        // error −1 clipped to −0.2; a whole horizon of rollouts at once: β·(1 − 0.2) = 0.4
        Assert.Equal(0.4, KlController.Update(0.5, kl: 0, target: 3, rollouts: 100, horizon: 100), 12);
    }

    [Fact]
    public void Update_KlOnTarget_BetaUnchanged()
    {
        Assert.Equal(0.2, KlController.Update(0.2, kl: 4, target: 4, rollouts: 64, horizon: 10000), 15);
    }
}
