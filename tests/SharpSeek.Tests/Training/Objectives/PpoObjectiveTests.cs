using SharpSeek.Data;
using SharpSeek.Data.Prompts;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>Test rewards: 1 when the first response token's id is below <paramref name="limit"/> (≈ 20 % of a random tiny model's samples).</summary>
internal sealed class FirstTokenBelowReward(int limit) : IRewardFunction
{
    public string Name => "first_token_below";

    public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts) =>
        rollouts.Select(r => r.ResponseLength > 0 && r.Ids[r.PromptLength] < limit ? 1.0 : 0.0).ToList();
}

/// <summary>Tiny models and a byte tokenizer with the ChatML tokens for PPO tests.</summary>
internal static class PpoTestModels
{
    /// <summary>The byte tokenizer (257 ids) with ChatML's special tokens added (259 ids).</summary>
    public static ITextTokenizer ChatTokenizer()
    {
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);
        return ChatTemplates.ChatMl.WithSpecialTokens(HfTokenizer.FromFolder(dir.Path));
    }

    public static CausalLM Gpt2(int seed = 1)
    {
        manual_seed(seed);
        return new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 320, NPositions = 64, NEmbd = 32, NLayer = 2, NHead = 4 });
    }

    public static CausalLM DeepSeek(int seed = 1)
    {
        manual_seed(seed);
        return new DeepSeekV3ForCausalLM(new DeepSeekV3Config { VocabSize = 320, NumHiddenLayers = 2, MaxPositionEmbeddings = 64, NumNextnPredictLayers = 0, QLoraRank = null });
    }

    public static IReadOnlyList<PromptExample> Prompts(int n) =>
        Enumerable.Range(0, n).Select(i => new PromptExample($"q{i}", $"{i}")).ToList();
}

public class PpoObjectiveTests
{
    private static Rollout R(int[] prompt, int[] response) => new("p", "r", null, prompt.Concat(response).ToArray(), prompt.Length);

    [Fact]
    public void Pack_TwoRolloutsOfDifferentLengths_LeftPadsPromptsRightPadsResponses()
    {
        var packed = PpoObjective.Pack([R([1, 2, 3], [4, 5, 6]), R([7], [8])], padId: 0);
        Assert.Equal(3, packed.PromptWidth);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 0, 0 }, packed.Ids.data<long>().ToArray());
        Assert.Equal(new long[] { 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0 }, packed.AttentionMask.data<long>().ToArray());
        Assert.Equal(new float[] { 1, 1, 1, 1, 0, 0 }, packed.ResponseMask.data<float>().ToArray());
        Assert.Equal(new long[] { 4, 5, 6, 8, 0, 0 }, packed.ResponseIds.contiguous().data<long>().ToArray());
    }

    [Fact]
    public void TokenRewards_HandBuiltRollouts_ScoreAtLastResponseTokenMinusBetaKlElsewhere()
    {
        var packed = PpoObjective.Pack([R([1, 2, 3], [4, 5, 6]), R([7], [8])], padId: 0);
        using var logp = tensor(new float[] { -1, -2, -3, -0.5f, -9, -9 }, [2, 3]);
        using var refLogp = tensor(new float[] { -1.5f, -2, -2, -1, -7, -7 }, [2, 3]);
        using var scores = tensor(new float[] { 2, -1 });
        // k1 = logp − ref = [[0.5, 0, −1], [0.5, ·, ·]]; β = 0.1; row 0 ends at t = 2, row 1 (one token) at t = 0
        var rewards = PpoObjective.TokenRewards(scores, logp, refLogp, packed.ResponseMask, beta: 0.1);
        var expected = new[] { -0.05f, 0f, 0.1f + 2f, -0.05f - 1f, 0f, 0f };
        var actual = rewards.data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }

    [Fact]
    public void TokenRewards_K3Estimator_PenaltyIsNeverNegativeKl()
    {
        var packed = PpoObjective.Pack([R([1], [4, 5])], padId: 0);
        using var logp = tensor(new float[] { -1, -2 }, [1, 2]);
        using var refLogp = tensor(new float[] { -2, -1 }, [1, 2]);
        using var scores = tensor(new float[] { 0 });
        // k3 = e^(ref − logp) − 1 − (ref − logp): e^−1 − 1 + 1 = 0.367879; e^1 − 1 − 1 = 0.718282
        var rewards = PpoObjective.TokenRewards(scores, logp, refLogp, packed.ResponseMask, beta: 1, estimator: "k3").data<float>().ToArray();
        Assert.Equal(-0.367879f, rewards[0], 5);
        Assert.Equal(-0.718282f, rewards[1], 5);
    }

    [Fact]
    public void MinibatchSchedule_TwoEpochsOfTen_EachEpochIsAPermutationCutIntoMinibatches()
    {
        var schedule = PpoObjective.MinibatchSchedule(10, 4, 2, new SplitMix64(7));
        Assert.Equal([4, 4, 2, 4, 4, 2], schedule.Select(m => m.Length));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), schedule.Take(3).SelectMany(m => m).Order());
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), schedule.Skip(3).SelectMany(m => m).Order());
        Assert.NotEqual(schedule.Take(3).SelectMany(m => m), schedule.Skip(3).SelectMany(m => m));
    }

    /// <summary>A minibatch of two rollouts (padded) with random old log-probs, values, advantages and returns.</summary>
    private static PpoMinibatch Minibatch(int[] leftPad, int[] rightPad, float[] atPadding)
    {
        var packed = PpoObjective.Pack([R([11, 12, 13, 14], [21, 22, 23]), R([15, 16], [24])], padId: 0);
        var ids = packed.Ids.clone();
        ids[1, 0] = leftPad[0]; ids[1, 1] = leftPad[1];                              // row 1: prompt padding at 0..1
        ids[1, 5] = rightPad[0]; ids[1, 6] = rightPad[1];                            // row 1: response padding at t = 1..2
        var p = packed with { Ids = ids };
        manual_seed(5);
        Tensor Noise() { var t = randn(2, 3); t[1, 1] = atPadding[0]; t[1, 2] = atPadding[1]; return t; }
        return new PpoMinibatch(p, Noise() - 2, Noise(), Noise(), Noise());
    }

    [Fact]
    public void MinibatchLoss_PaddingPerturbed_LossAndMetricsUnchangedButARealTokenChangesThem()
    {
        using var policy = new ValueHeadModel(PpoTestModels.Gpt2());
        using (no_grad()) foreach (var p in policy.parameters()) if (p.shape.Length == 2 && p.shape[0] == 1) p.normal_(0, 0.5);   // a non-zero value head
        policy.eval();
        var config = new PpoConfig { EntropyCoef = 0.01, VfCoef = 0.5 };
        var (l0, m0) = PpoObjective.MinibatchLoss(policy, Minibatch([0, 0], [0, 0], [0, 0]), config);
        var (l1, m1) = PpoObjective.MinibatchLoss(policy, Minibatch([300, 77], [123, 45], [50, -50]), config);
        Assert.Equal(l0.item<float>(), l1.item<float>(), 5);
        foreach (var k in m0.Keys) Assert.Equal(m0[k], m1[k], 5);

        var changed = Minibatch([0, 0], [0, 0], [0, 0]);
        changed.OldLogProbs[1, 0] = changed.OldLogProbs[1, 0] + 1;                    // row 1's one real response token
        changed.OldValues[1, 0] = changed.OldValues[1, 0] + 1;
        var (l2, _) = PpoObjective.MinibatchLoss(policy, changed, config);
        Assert.True(Math.Abs(l0.item<float>() - l2.item<float>()) > 1e-3, $"{l0.item<float>()} vs {l2.item<float>()}");
    }

    [Fact]
    public void MinibatchLoss_RatioOneAndZeroAdvantages_PolicyLossZeroAndValueLossHalfMeanSquaredError()
    {
        using var policy = new ValueHeadModel(PpoTestModels.Gpt2());          // zero value head: V = 0
        policy.eval();
        var packed = PpoObjective.Pack([R([11, 12], [21, 22])], padId: 0);
        Tensor logp;
        using (no_grad()) logp = TokenLogProbsOf(policy, packed);
        var batch = new PpoMinibatch(packed, logp, zeros(1, 2), zeros(1, 2), tensor(new float[] { 1, 3 }, [1, 2]));
        var (loss, metrics) = PpoObjective.MinibatchLoss(policy, batch, new PpoConfig { VfCoef = 0.1 });
        Assert.Equal(0.0, metrics["policy_loss"], 6);
        Assert.Equal(0.0, metrics["approx_kl"], 6);
        Assert.Equal(0.0, metrics["clip_fraction"], 6);
        Assert.Equal(0.5 * (1 + 9) / 2, metrics["value_loss"], 5);                   // ½·mean((0 − R)²)
        Assert.Equal(0.1 * 2.5, loss.item<float>(), 5);
    }

    private static Tensor TokenLogProbsOf(CausalLM model, PackedRollouts packed)
    {
        var (logits, _) = PpoObjective.ResponseForward(model, packed, withValues: false);
        return PolicyGradientMath.TokenLogProbs(logits, packed.ResponseIds);
    }

    private static TrainConfig Config(string outDir, int maxSteps) => new()
    {
        Arch = "gpt2", MaxSteps = maxSteps, Lr = 3e-3, MinLr = 3e-3, WarmupSteps = 0, EvalInterval = 1000, EvalIters = 1, LogInterval = 1,
        OutDir = outDir, Threads = 1, Precision = "fp32", GradClip = 1.0, WeightDecay = 0,
    };

    private static PpoObjective Objective(PpoConfig ppo, CausalLM reference, IRewardFunction reward) =>
        new(ppo, PpoTestModels.Prompts(8), null, reference, reward, PpoTestModels.ChatTokenizer(), ChatTemplates.ChatMl);

    [Fact]
    public void Run_Gpt2FirstTokenReward_MeanRewardRisesWithinEightySteps()
    {
        using var dir = new TempDir();
        var ppo = new PpoConfig { RolloutBatchSize = 32, MiniBatchSize = 16, PpoEpochs = 2, MaxNewTokens = 4, KlCoef = 0.01 };
        var objective = Objective(ppo, PpoTestModels.Gpt2(), new FirstTokenBelowReward(64));
        var trainer = new Trainer(Config(dir.Path, 80), objective, d => new ValueHeadModel(PpoTestModels.Gpt2()));
        var result = trainer.Run();
        double first = result.StepMetrics[1]["reward"], last = result.StepMetrics[80]["reward"];
        Assert.InRange(first, 0.05, 0.45);                                          // ≈ 64/320 at the start
        Assert.True(last > first + 0.3, $"mean reward {first:F3} → {last:F3}");
        Assert.True(double.IsFinite(result.StepMetrics[80]["kl"]));
        Assert.True(result.StepMetrics[80]["rollout_seconds"] > 0 && result.StepMetrics[80]["optimize_seconds"] > 0);
    }

    [Fact]
    public void Run_DeepSeekTiny_StepsRunWithFiniteMetricsAndCheckpointHoldsTheValueHead()
    {
        using var dir = new TempDir();
        var ppo = new PpoConfig { RolloutBatchSize = 8, MiniBatchSize = 4, PpoEpochs = 1, MaxNewTokens = 4 };
        var objective = Objective(ppo, PpoTestModels.DeepSeek(), new FirstTokenBelowReward(64));
        var trainer = new Trainer(Config(dir.Path, 3), objective, d => new ValueHeadModel(PpoTestModels.DeepSeek()));
        var result = trainer.Run();
        Assert.Equal(3, result.Step);
        foreach (var name in new[] { "reward", "kl", "entropy", "clip_fraction", "approx_kl", "value_loss", "explained_variance", "response_length" })
            Assert.True(double.IsFinite(result.StepMetrics[3][name]), name);
        Assert.True(File.Exists(Path.Combine(result.Checkpoint!, ValueHeadModel.FileName)));
        Assert.True(File.Exists(Path.Combine(result.Checkpoint!, "config.json")));
    }

    [Fact]
    public void Step_RolloutBuffer_ReusedForEpochsTimesMinibatchesThenResampled()
    {
        var ppo = new PpoConfig { RolloutBatchSize = 4, MiniBatchSize = 2, PpoEpochs = 2, MaxNewTokens = 3, TargetKl = 1, KlCoef = 0.1 };
        var objective = Objective(ppo, PpoTestModels.Gpt2(), new FirstTokenBelowReward(64));
        using var policy = new ValueHeadModel(PpoTestModels.Gpt2());
        objective.Reseed(DataSplit.Train, 3);
        var betas = new List<double>();
        for (int i = 0; i < 8; i++)
        {
            using var scope = NewDisposeScope();
            betas.Add(objective.Step(policy, DataSplit.Train, StepMode.Train).Metrics["beta"]);
        }
        // 2 epochs × 2 minibatches = 4 steps per rollout batch; the adaptive controller moves β only between batches
        Assert.Equal(betas[0], betas[3]);
        Assert.True(betas[4] < betas[3], $"β {betas[3]} → {betas[4]}");             // KL ≈ 0 below the target 1: β shrinks
        Assert.Equal(betas[4], betas[7]);
        Assert.Contains("\"Position\":8", objective.SaveState());
    }

    [Fact]
    public void Step_ApproxKlAboveLimit_DropsTheRestOfTheBufferAndResamples()
    {
        var ppo = new PpoConfig { RolloutBatchSize = 4, MiniBatchSize = 2, PpoEpochs = 2, MaxNewTokens = 3, TargetKl = 1, KlCoef = 0.1, MaxApproxKl = 1e-3 };
        var objective = Objective(ppo, PpoTestModels.Gpt2(), new FirstTokenBelowReward(64));
        using var policy = new ValueHeadModel(PpoTestModels.Gpt2());
        objective.Reseed(DataSplit.Train, 3);
        IReadOnlyDictionary<string, double> Step() { using var scope = NewDisposeScope(); return objective.Step(policy, DataSplit.Train, StepMode.Train).Metrics; }
        var first = Step();                                                           // ratio 1: approx_kl 0
        using (no_grad()) foreach (var p in policy.Policy.parameters()) p.add_(randn_like(p) * 0.2);
        var second = Step();                                                          // the policy moved: above the limit
        var third = Step();                                                           // a new batch (β moved), not minibatch 3 of 4
        Assert.Equal(0.0, first["approx_kl"], 6);
        Assert.True(second["approx_kl"] > 1e-3, $"approx_kl {second["approx_kl"]}");
        Assert.Equal(first["beta"], second["beta"]);
        Assert.NotEqual(second["beta"], third["beta"]);
        Assert.Contains("\"Position\":8", objective.SaveState());
    }

    [Fact]
    public void Step_Bf16PolicyEqualToFp32Reference_ReferenceFollowsThePolicyDtypeAndKlIsZero()
    {
        var ppo = new PpoConfig { RolloutBatchSize = 4, MiniBatchSize = 4, PpoEpochs = 1, MaxNewTokens = 3 };
        var reference = PpoTestModels.Gpt2(seed: 4);
        var objective = Objective(ppo, reference, new FirstTokenBelowReward(64));
        using var policy = new ValueHeadModel(PpoTestModels.Gpt2(seed: 4)) { ComputeDType = ScalarType.BFloat16 };
        objective.Reseed(DataSplit.Train, 3);
        using var scope = NewDisposeScope();
        var step = objective.Step(policy, DataSplit.Train, StepMode.Train);
        Assert.Equal(ScalarType.BFloat16, reference.ComputeDType);
        Assert.Equal(0.0, step.Metrics["kl"]);
        Assert.Equal(0.0, step.Metrics["approx_kl"], 6);
    }

    [Fact]
    public void EvalStep_PolicyEqualToReference_KlZeroLossIsMinusRewardAndAccuracyReported()
    {
        var ppo = new PpoConfig { EvalBatchSize = 6, MaxNewTokens = 3 };
        var objective = Objective(ppo, PpoTestModels.Gpt2(seed: 4), new FirstTokenBelowReward(160));
        using var policy = new ValueHeadModel(PpoTestModels.Gpt2(seed: 4));
        var same = ObjectiveEvaluation.Estimate(objective, policy, DataSplit.Val, iters: 2, seed: 1);
        Assert.Equal(0.0, same.Metrics["kl"], 6);
        Assert.Equal(-same.Metrics["reward"], same.Loss, 6);
        Assert.InRange(same.Metrics["accuracy"], 0, 1);                               // every test prompt has an answer
        using (no_grad()) foreach (var p in policy.Policy.parameters()) p.add_(randn_like(p) * 0.05);
        var moved = ObjectiveEvaluation.Estimate(objective, policy, DataSplit.Val, iters: 2, seed: 1);
        Assert.True(moved.Metrics["kl"] > 1e-4, $"kl {moved.Metrics["kl"]}");
    }

    [Fact]
    public void Constructor_TokenizerWithoutChatTokens_ThrowsConfigException()
    {
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);
        var e = Assert.Throws<ConfigException>(() => new PpoObjective(new PpoConfig(), PpoTestModels.Prompts(2), null,
            PpoTestModels.Gpt2(), new CorrectnessReward(), HfTokenizer.FromFolder(dir.Path), ChatTemplates.ChatMl));
        Assert.Contains("<|im_start|>", e.Message);
    }
}
