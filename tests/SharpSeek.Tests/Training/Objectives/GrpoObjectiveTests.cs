using SharpSeek.Data;
using SharpSeek.Data.Prompts;
using SharpSeek.Evaluation;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>Test reward: records the prompt text of every rollout it scores (to observe which prompts were sampled), scoring 0.</summary>
internal sealed class RecordingReward : IRewardFunction
{
    public List<string> Prompts { get; } = [];
    public int Calls { get; private set; }
    public string Name => "recording";

    public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts)
    {
        Calls++;
        Prompts.AddRange(rollouts.Select(r => r.Prompt));
        return rollouts.Select(_ => 0.0).ToList();
    }
}

/// <summary>Test reward that always throws.</summary>
internal sealed class ThrowingReward : IRewardFunction
{
    public string Name => "throwing";
    public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts) => throw new InvalidOperationException("reward service down");
}

public class GrpoObjectiveTests
{
    private static WeightedRewards Rewards(IRewardFunction f) => new([(f, 1.0)]);

    private static GrpoObjective Objective(GrpoConfig grpo, CausalLM? reference, IRewardFunction reward, int prompts = 8) =>
        new(grpo, PpoTestModels.Prompts(prompts), null, reference, Rewards(reward), PpoTestModels.ChatTokenizer(), ChatTemplates.ChatMl);

    private static TrainConfig Config(string outDir, int maxSteps) => new()
    {
        Arch = "gpt2", MaxSteps = maxSteps, Lr = 3e-3, MinLr = 3e-3, WarmupSteps = 0, EvalInterval = 1000, EvalIters = 1, LogInterval = 1,
        OutDir = outDir, Threads = 1, Precision = "fp32", GradClip = 1.0, WeightDecay = 0,
    };

    private static IReadOnlyDictionary<string, double> TrainStep(GrpoObjective objective, CausalLM policy)
    {
        using var scope = NewDisposeScope();
        return objective.Step(policy, DataSplit.Train, StepMode.Train).Metrics;
    }

    [Fact]
    public void MinibatchLoss_RatioOneAndReferenceEqualPolicy_LossIsMinusMeanAdvantageNoClipNoKl()
    {
        using var policy = PpoTestModels.Gpt2();
        policy.eval();
        var packed = PpoObjective.Pack([new("p", "r", null, [11, 12, 21, 22, 23], 2), new("p", "r", null, [13, 24], 1)], padId: 0);
        Tensor logp;
        using (no_grad())
        {
            var (logits, _) = PpoObjective.ResponseForward(policy, packed, withValues: false);
            logp = PolicyGradientMath.TokenLogProbs(logits, packed.ResponseIds);
        }
        var batch = new GrpoMinibatch(packed, logp, logp, tensor(new float[] { 1f, -0.5f }));
        // every token loss is −A_i (ρ = 1, k3 = 0): per sequence −(1 − 0.5)/2 = −0.25; per token −(3·1 − 0.5)/4 = −0.625
        var (sequence, metrics) = GrpoObjective.MinibatchLoss(policy, batch, new GrpoConfig { Beta = 0.5 });
        var (token, _) = GrpoObjective.MinibatchLoss(policy, batch, new GrpoConfig { Beta = 0.5, LossNormalisation = "token" });
        Assert.Equal(-0.25, sequence.item<float>(), 5);
        Assert.Equal(-0.625, token.item<float>(), 5);
        Assert.Equal(0.0, metrics["clip_fraction"]);
        Assert.Equal(0.0, metrics["kl"], 6);
        Assert.Equal(1.0, metrics["ratio_mean"], 5);
    }

    [Fact]
    public void Step_AllRewardsEqual_ZeroAdvantageGroupsFiniteZeroLossAndNoGradient()
    {
        var grpo = new GrpoConfig { PromptsPerStep = 2, GroupSize = 4, MaxNewTokens = 3, Beta = 0.04 };
        var objective = Objective(grpo, PpoTestModels.Gpt2(seed: 4), new RecordingReward());
        using var policy = PpoTestModels.Gpt2(seed: 4);
        policy.train();
        objective.Reseed(DataSplit.Train, 3);
        using var scope = NewDisposeScope();
        var step = objective.Step(policy, DataSplit.Train, StepMode.Train);
        Assert.Equal(1.0, step.Metrics["zero_advantage_groups"]);
        Assert.Equal(0.0, step.Metrics["reward_std"]);
        Assert.Equal(0.0, step.Loss.item<float>(), 6);                                   // A = 0 and π = π_ref: k3 = 0
        step.Loss.backward();
        Assert.All(policy.parameters(), p => Assert.True(p.grad is null || p.grad.abs().max().item<float>() < 1e-6));
    }

    [Fact]
    public void Step_MuTwoTwoMinibatches_OneGenerationServesFourStepsThenResamples()
    {
        var reward = new RecordingReward();
        var grpo = new GrpoConfig { PromptsPerStep = 2, GroupSize = 4, Mu = 2, MiniBatchSize = 4, MaxNewTokens = 3 };
        var objective = Objective(grpo, PpoTestModels.Gpt2(), reward);
        using var policy = PpoTestModels.Gpt2();
        objective.Reseed(DataSplit.Train, 3);
        for (int i = 0; i < 4; i++) TrainStep(objective, policy);
        Assert.Equal(1, reward.Calls);
        Assert.Equal(8, reward.Prompts.Count);                                            // 2 prompts × G 4 in one batch
        Assert.Equal(2, reward.Prompts.Distinct().Count());
        Assert.All(reward.Prompts.Chunk(4), group => Assert.Single(group.Distinct()));   // grouped by prompt
        TrainStep(objective, policy);
        Assert.Equal(2, reward.Calls);
    }

    [Fact]
    public void Step_PolicyMovedInsideTheBuffer_RatioLeavesOneAndTokensGetClipped()
    {
        var grpo = new GrpoConfig { PromptsPerStep = 4, GroupSize = 4, Mu = 2, MaxNewTokens = 3, Beta = 0 };
        var objective = Objective(grpo, null, new FirstTokenBelowReward(160));
        using var policy = PpoTestModels.Gpt2();
        objective.Reseed(DataSplit.Train, 3);
        var first = TrainStep(objective, policy);                                         // pass 1: π = π_old
        using (no_grad()) foreach (var p in policy.parameters()) p.add_(randn_like(p) * 0.2);
        var second = TrainStep(objective, policy);                                        // pass 2 over the same rollouts
        Assert.Equal((0.0, 1.0), (first["clip_fraction"], Math.Round(first["ratio_mean"], 5)));
        Assert.True(first["zero_advantage_groups"] < 1, "some group must have different rewards");
        Assert.True(second["clip_fraction"] > 0, $"clip_fraction {second["clip_fraction"]}");
        Assert.NotEqual(1.0, Math.Round(second["ratio_mean"], 3));
        Assert.Equal(first["reward_mean"], second["reward_mean"]);                        // the same rollout batch
    }

    [Fact]
    public void Step_RewardFunctionThrows_ScoresZeroCountsErrorsAndTrainingGoesOn()
    {
        var grpo = new GrpoConfig { PromptsPerStep = 2, GroupSize = 2, MaxNewTokens = 2 };
        var objective = new GrpoObjective(grpo, PpoTestModels.Prompts(4), null, PpoTestModels.Gpt2(),
            new WeightedRewards([(new ThrowingReward(), 1.0), (new FirstTokenBelowReward(64), 1.0)]), PpoTestModels.ChatTokenizer(), ChatTemplates.ChatMl);
        using var policy = PpoTestModels.Gpt2();
        objective.Reseed(DataSplit.Train, 3);
        var metrics = TrainStep(objective, policy);
        Assert.Equal(4.0, metrics["reward_errors"]);                                      // every completion, once
        Assert.True(double.IsFinite(metrics["reward_mean"]));
        Assert.Equal(4.0, TrainStep(objective, policy)["reward_errors"]);                 // per batch, not cumulative
    }

    [Fact]
    public void Step_TwoStageCurriculum_SwitchesPromptSetAfterTheFirstStagesSteps()
    {
        var reward = new RecordingReward();
        var grpo = new GrpoConfig { PromptsPerStep = 1, GroupSize = 2, MaxNewTokens = 2 };
        var easy = new[] { new PromptExample("easy 1", "1"), new PromptExample("easy 2", "2") };
        var hard = new[] { new PromptExample("hard 1", "1") };
        var objective = new GrpoObjective(grpo, [new GrpoPromptStage("easy", easy, 3), new GrpoPromptStage("hard", hard, 1)], null,
            PpoTestModels.Gpt2(), Rewards(reward), PpoTestModels.ChatTokenizer(), ChatTemplates.ChatMl);
        using var policy = PpoTestModels.Gpt2();
        objective.Reseed(DataSplit.Train, 3);
        var stages = Enumerable.Range(0, 6).Select(_ => TrainStep(objective, policy)["stage"]).ToList();
        Assert.Equal([0.0, 0, 0, 1, 1, 1], stages);                                       // the last stage goes on past its steps
        var perStep = reward.Prompts.Chunk(2).Select(g => g[0]).ToList();
        Assert.All(perStep.Take(3), p => Assert.Contains("easy", p));
        Assert.All(perStep.Skip(3), p => Assert.Contains("hard 1", p));
    }

    [Fact]
    public void Step_CurriculumWithGradAccumTwo_StageCountsOptimizerSteps()
    {
        var reward = new RecordingReward();
        var grpo = new GrpoConfig { PromptsPerStep = 1, GroupSize = 2, MaxNewTokens = 2 };
        var objective = new GrpoObjective(grpo, [new GrpoPromptStage("a", [new PromptExample("a", "1")], 2), new GrpoPromptStage("b", [new PromptExample("b", "1")], 1)],
            null, PpoTestModels.Gpt2(), Rewards(reward), PpoTestModels.ChatTokenizer(), ChatTemplates.ChatMl, gradAccum: 2);
        using var policy = PpoTestModels.Gpt2();
        objective.Reseed(DataSplit.Train, 3);
        Assert.Equal([0.0, 0, 0, 0, 1, 1], Enumerable.Range(0, 6).Select(_ => TrainStep(objective, policy)["stage"]));
    }

    [Fact]
    public void Step_Bf16PolicyEqualToFp32Reference_ReferenceFollowsThePolicyDtypeKlZeroRatioOne()
    {
        var grpo = new GrpoConfig { PromptsPerStep = 2, GroupSize = 2, MaxNewTokens = 3 };
        var reference = PpoTestModels.Gpt2(seed: 4);
        var objective = Objective(grpo, reference, new FirstTokenBelowReward(64));
        using var policy = PpoTestModels.Gpt2(seed: 4);
        policy.ComputeDType = ScalarType.BFloat16;
        objective.Reseed(DataSplit.Train, 3);
        var metrics = TrainStep(objective, policy);
        Assert.Equal(ScalarType.BFloat16, reference.ComputeDType);
        Assert.Equal(0.0, metrics["kl"]);
        Assert.Equal(1.0, metrics["ratio_mean"], 5);
    }

    [Fact]
    public void Constructor_BetaZero_NoFrozenModelsAndNoKlMetric()
    {
        var grpo = new GrpoConfig { PromptsPerStep = 2, GroupSize = 2, MaxNewTokens = 2, Beta = 0, EvalBatchSize = 2 };
        var objective = Objective(grpo, reference: null, new FirstTokenBelowReward(64));
        Assert.Empty(objective.FrozenModels);
        using var policy = PpoTestModels.Gpt2();
        objective.Reseed(DataSplit.Train, 3);
        Assert.False(TrainStep(objective, policy).ContainsKey("kl"));
        Assert.Throws<ConfigException>(() => Objective(grpo with { Beta = 0.1 }, reference: null, new FirstTokenBelowReward(64)));
    }

    [Fact]
    public void EvalStep_PolicyEqualToReference_KlZeroLossIsMinusRewardAndAccuracyReported()
    {
        var grpo = new GrpoConfig { EvalBatchSize = 6, MaxNewTokens = 3 };
        var objective = Objective(grpo, PpoTestModels.Gpt2(seed: 4), new FirstTokenBelowReward(160));
        using var policy = PpoTestModels.Gpt2(seed: 4);
        var same = ObjectiveEvaluation.Estimate(objective, policy, DataSplit.Val, iters: 2, seed: 1);
        Assert.Equal(0.0, same.Metrics["kl"], 6);
        Assert.Equal(-same.Metrics["reward"], same.Loss, 6);
        Assert.Equal(0.0, same.Metrics["accuracy"]);                                      // a random model writes no <answer> tag
        Assert.Equal(0.0, same.Metrics["format_rate"]);
        using (no_grad()) foreach (var p in policy.parameters()) p.add_(randn_like(p) * 0.05);
        var moved = ObjectiveEvaluation.Estimate(objective, policy, DataSplit.Val, iters: 2, seed: 1);
        Assert.True(moved.Metrics["kl"] > 1e-4, $"kl {moved.Metrics["kl"]}");
    }

    [Fact]
    public void Constructor_AutoFormat_PlainWithoutChatTokensChatWithThem()
    {
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);
        var grpo = new GrpoConfig();
        var plain = new GrpoObjective(grpo, PpoTestModels.Prompts(2), null, PpoTestModels.Gpt2(), Rewards(new FormatReward()), HfTokenizer.FromFolder(dir.Path), ChatTemplates.ChatMl);
        Assert.Equal(PromptFormat.Plain, plain.Format);
        Assert.Equal(PromptFormat.Chat, Objective(grpo, PpoTestModels.Gpt2(), new FormatReward()).Format);
        Assert.Throws<ConfigException>(() => new GrpoObjective(grpo with { PromptFormat = "chat" }, PpoTestModels.Prompts(2), null, PpoTestModels.Gpt2(),
            Rewards(new FormatReward()), HfTokenizer.FromFolder(dir.Path), ChatTemplates.ChatMl));
    }

    [Fact]
    public void Validate_PromptPlusMaxNewTokensBeyondContext_ThrowsConfigException()
    {
        var objective = Objective(new GrpoConfig { MaxNewTokens = 60 }, PpoTestModels.Gpt2(), new FormatReward());
        using var policy = PpoTestModels.Gpt2();
        var e = Assert.Throws<ConfigException>(() => objective.Validate(policy));
        Assert.Contains("grpo.max_new_tokens (60) exceeds the model's context (64 tokens)", e.Message);
    }

    [Fact]
    public void Run_Gpt2FirstTokenReward_MeanRewardRises()
    {
        using var dir = new TempDir();
        var grpo = new GrpoConfig { PromptsPerStep = 4, GroupSize = 8, MaxNewTokens = 3, Beta = 0.01 };
        var objective = Objective(grpo, PpoTestModels.Gpt2(), new FirstTokenBelowReward(64));
        var trainer = new Trainer(Config(dir.Path, 50), objective, d => PpoTestModels.Gpt2());
        var result = trainer.Run();
        double Mean(int from, int count) => Enumerable.Range(from, count).Average(s => result.StepMetrics[s]["reward_mean"]);
        double first = Mean(1, 5), last = Mean(41, 10);
        Assert.InRange(first, 0.05, 0.45);                                                // ≈ 64/320 at the start
        Assert.True(last > first + 0.3, $"mean reward {first:F3} → {last:F3}");
        Assert.True(result.StepMetrics[50]["generation_seconds"] > 0 && result.StepMetrics[50]["optimize_seconds"] > 0);
    }

    [Fact]
    public void Run_DeepSeekTiny_StepsRunWithFiniteMetrics()
    {
        using var dir = new TempDir();
        var grpo = new GrpoConfig { PromptsPerStep = 2, GroupSize = 4, MiniBatchSize = 4, MaxNewTokens = 4 };
        var objective = Objective(grpo, PpoTestModels.DeepSeek(), new FirstTokenBelowReward(64));
        var result = new Trainer(Config(dir.Path, 3), objective, d => PpoTestModels.DeepSeek()).Run();
        Assert.Equal(3, result.Step);
        foreach (var name in new[] { "reward_mean", "reward_std", "kl", "clip_fraction", "completion_length", "finished_rate", "zero_advantage_groups", "format_rate", "accuracy" })
            Assert.True(double.IsFinite(result.StepMetrics[3][name]), name);
        Assert.True(File.Exists(Path.Combine(result.Checkpoint!, "config.json")));
    }

    [Fact]
    public void Run_StoppedMidRolloutBatchAndResumed_GivesSameLossesAsUninterrupted()
    {
        // μ 2 × 2 minibatches: a rollout batch lasts 4 steps, so step 3 stops inside one; two stages (2 steps, then the rest)
        var grpo = new GrpoConfig { PromptsPerStep = 2, GroupSize = 4, Mu = 2, MiniBatchSize = 4, MaxNewTokens = 3, Beta = 0.1 };
        GrpoObjective New() => new(grpo, [new GrpoPromptStage("a", PpoTestModels.Prompts(3), 2), new GrpoPromptStage("b", PpoTestModels.Prompts(5).Skip(3).ToList(), 1)],
            null, PpoTestModels.Gpt2(), Rewards(new FirstTokenBelowReward(64)), PpoTestModels.ChatTokenizer(), ChatTemplates.ChatMl);
        ModelBuilder builder = d => d is null ? PpoTestModels.Gpt2() : ModelLoader.Load(d);
        using var wholeDir = new TempDir();
        var whole = new Trainer(Config(wholeDir.Path, 7), New(), builder).Run();

        using var dir = new TempDir();
        using var cts = new CancellationTokenSource();
        var stopped = new Trainer(Config(dir.Path, 7), New(), builder) { OnStep = p => { if (p.Step == 3) cts.Cancel(); } }.Run(cancel: cts.Token);
        Assert.Equal((3, TrainStopReason.Cancelled), (stopped.Step, stopped.Reason));
        var second = new Trainer(Config(dir.Path, 7), New(), builder);
        var resumed = second.Run(resumeFrom: second.Store.Latest());

        var joined = stopped.StepLosses.Concat(resumed.StepLosses).OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray();
        Assert.Equal(whole.StepLosses.OrderBy(kv => kv.Key).Select(kv => kv.Value).ToArray(), joined);
        Assert.Equal(whole.StepMetrics[7]["kl"], resumed.StepMetrics[7]["kl"]);
        Assert.Equal(1.0, resumed.StepMetrics[7]["stage"]);
    }

    [Fact]
    public void RestoreState_Corrupt_ThrowsCheckpointException()
    {
        var objective = Objective(new GrpoConfig(), PpoTestModels.Gpt2(), new FormatReward());
        Assert.Throws<CheckpointException>(() => objective.RestoreState("12 3"));
        Assert.Throws<CheckpointException>(() => objective.RestoreState("""{"Seed":1,"MicroSteps":0,"Stage":5,"Position":0,"RolloutBatches":0}"""));
    }
}
