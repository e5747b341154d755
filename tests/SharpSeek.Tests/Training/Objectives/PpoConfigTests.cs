using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

public class PpoConfigTests
{
    [Theory]
    [InlineData(64, 16, 4, 1, 16)]      // 4 epochs × 4 minibatches
    [InlineData(64, 16, 4, 3, 6)]       // 16 minibatches at 3 per optimizer step, rounded up
    [InlineData(10, 4, 2, 1, 6)]        // 3 minibatches per pass (4, 4, 2)
    public void StepsPerRollout_EpochsTimesMinibatchesOverAccumulation(int rollouts, int miniBatch, int epochs, int gradAccum, int expected)
    {
        var c = new PpoConfig { Prompts = "p.jsonl", RolloutBatchSize = rollouts, MiniBatchSize = miniBatch, PpoEpochs = epochs };
        Assert.Equal(expected, c.StepsPerRollout(gradAccum));
    }

    [Fact]
    public void WithOverrides_PpoKeys_ReachTheSectionAndValidate()
    {
        var c = new TrainConfig().WithOverrides(["ppo.prompts=p.jsonl", "ppo.kl_coef=0.2", "ppo.target_kl=6", "ppo.kl_estimator=k3"]);
        Assert.Equal((0.2, 6.0, "k3"), (c.Ppo!.KlCoef, c.Ppo.TargetKl, c.Ppo.KlEstimator));
        c.Validate();
    }

    [Theory]
    [InlineData("ppo.mini_batch_size=100", "ppo.mini_batch_size")]
    [InlineData("ppo.reward=model", "ppo.reward_model")]
    [InlineData("ppo.kl_estimator=k2", "ppo.kl_estimator")]
    [InlineData("ppo.temperature=0", "ppo.temperature")]
    public void Validate_BadValue_ThrowsNamingTheKey(string set, string key)
    {
        var c = new TrainConfig().WithOverrides(["ppo.prompts=p.jsonl", set]);
        var e = Assert.Throws<ConfigException>(c.Validate);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void WithOverrides_UnknownPpoKey_ThrowsConfigException()
    {
        Assert.Throws<ConfigException>(() => new TrainConfig().WithOverrides(["ppo.prompts=p.jsonl", "ppo.kl_cof=0.1"]));
    }
}
