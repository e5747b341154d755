using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

public class GrpoConfigTests
{
    [Fact]
    public void WithOverrides_GrpoKeys_ReachTheSectionAndValidate()
    {
        var c = new TrainConfig().WithOverrides(["grpo.prompts=p.jsonl", "grpo.group_size=4", "grpo.clip_high=0.28", "grpo.beta=0",
                                                  "grpo.rewards={\"accuracy\": 1, \"format\": 0.5}", "grpo.loss_normalisation=token"]);
        var g = c.Grpo!;
        Assert.Equal((4, 0.28, 0.0, GrpoLossNormalisation.PerToken), (g.GroupSize, g.ClipHigh, g.Beta, g.Normalisation));
        Assert.Equal(new Dictionary<string, double> { ["accuracy"] = 1, ["format"] = 0.5 }, g.Rewards);
        c.Validate();
    }

    [Fact]
    public void Defaults_RolloutOfSixtyFourCompletionsOneMinibatch()
    {
        var g = new GrpoConfig { Prompts = "p.jsonl" };
        Assert.Equal((8, 8, 64, 64, 1), (g.GroupSize, g.PromptsPerStep, g.RolloutBatchSize, g.EffectiveMiniBatchSize, g.MiniBatchesPerRollout));
        Assert.Equal(new Dictionary<string, double> { ["accuracy"] = 1.0, ["format"] = 0.1 }, g.Rewards);
        g.Validate();
    }

    [Theory]
    [InlineData(2, 8, 1, 0, 1)]         // 16 completions, mini_batch_size 0: one minibatch
    [InlineData(2, 8, 1, 4, 4)]         // 16 completions in minibatches of 4
    [InlineData(3, 4, 2, 5, 6)]         // 12 completions in minibatches of 5 (5, 5, 2), two passes
    public void MiniBatchesPerRollout_MuTimesMinibatchesPerPass(int prompts, int g, int mu, int miniBatch, int expected) =>
        Assert.Equal(expected, new GrpoConfig { PromptsPerStep = prompts, GroupSize = g, Mu = mu, MiniBatchSize = miniBatch }.MiniBatchesPerRollout);

    [Theory]
    [InlineData("grpo.group_size=1", "grpo.group_size must be at least 2")]
    [InlineData("grpo.mini_batch_size=65", "grpo.mini_batch_size")]
    [InlineData("grpo.mu=0", "grpo.mu")]
    [InlineData("grpo.beta=-0.1", "grpo.beta")]
    [InlineData("grpo.clip_low=1", "grpo.clip_low")]
    [InlineData("grpo.loss_normalisation=batch", "grpo.loss_normalisation")]
    [InlineData("grpo.prompt_format=markdown", "grpo.prompt_format")]
    [InlineData("grpo.rewards={\"length\": 1}", "unknown reward 'length'")]
    [InlineData("grpo.rewards={\"accuracy\": -1}", "grpo.rewards.accuracy must be a weight ≥ 0")]
    [InlineData("grpo.rewards={\"accuracy\": 0}", "at least one weight must be positive")]
    [InlineData("grpo.rewards={}", "grpo.rewards must name at least one reward")]
    [InlineData("grpo.temperature=0", "grpo.temperature")]
    public void Validate_BadValue_ThrowsNamingTheKey(string set, string expected)
    {
        var c = new TrainConfig().WithOverrides(["grpo.prompts=p.jsonl", set]);
        var e = Assert.Throws<ConfigException>(c.Validate);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Validate_StagesAndPrompts_ThrowsSayingBoth()
    {
        var c = new TrainConfig().WithOverrides(["grpo.prompts=p.jsonl", "grpo.stages=[{\"prompts\": \"a.jsonl\", \"steps\": 10}]"]);
        var e = Assert.Throws<ConfigException>(c.Validate);
        Assert.Contains("grpo.stages and grpo.prompts are both set", e.Message);
    }

    [Fact]
    public void Validate_StageWithoutSteps_ThrowsNamingTheStage()
    {
        var c = new TrainConfig().WithOverrides(["grpo.stages=[{\"prompts\": \"a.jsonl\", \"steps\": 10}, {\"prompts\": \"b.jsonl\"}]"]);
        var e = Assert.Throws<ConfigException>(c.Validate);
        Assert.Contains("grpo.stages[1].steps must be positive", e.Message);
    }

    [Fact]
    public void WithOverrides_UnknownGrpoOrStageKey_ThrowsConfigException()
    {
        Assert.Throws<ConfigException>(() => new TrainConfig().WithOverrides(["grpo.prompts=p.jsonl", "grpo.kl_coef=0.1"]));
        Assert.Throws<ConfigException>(() => new TrainConfig().WithOverrides(["grpo.stages=[{\"prompts\": \"a.jsonl\", \"steps\": 1, \"level\": 2}]"]));
    }
}
