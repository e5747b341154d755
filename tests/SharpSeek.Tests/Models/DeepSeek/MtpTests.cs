using SharpSeek.Models.Common;
using SharpSeek.Training.Objectives;
using SharpSeek.Models.DeepSeek;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.DeepSeek;

public sealed class MtpTests
{
    private static DeepSeekV3Config Tiny(int depth, double lambda = 0.3) => new()
    {
        VocabSize = 32, HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
        NRoutedExperts = 4, NGroup = 1, TopkGroup = 1, NumExpertsPerTok = 2, KvLoraRank = 16, QLoraRank = null,
        QkNopeHeadDim = 8, QkRopeHeadDim = 4, VHeadDim = 8, MaxPositionEmbeddings = 64, NumNextnPredictLayers = depth, MtpLossWeight = lambda,
    };

    [Fact]
    public void StateDict_TwoMtpModules_UseReleasedCheckpointNames()
    {
        using var model = new DeepSeekV3ForCausalLM(Tiny(2));
        var sd = model.state_dict();
        foreach (int layer in new[] { 2, 3 })
        {
            Assert.Equal(new long[] { 32 }, sd[$"model.layers.{layer}.enorm.weight"].shape);
            Assert.Equal(new long[] { 32 }, sd[$"model.layers.{layer}.hnorm.weight"].shape);
            Assert.Equal(new long[] { 32, 64 }, sd[$"model.layers.{layer}.eh_proj.weight"].shape);
            Assert.Equal(new long[] { 32 }, sd[$"model.layers.{layer}.shared_head.norm.weight"].shape);
            Assert.Contains($"model.layers.{layer}.self_attn.kv_b_proj.weight", sd.Keys);
            Assert.Contains($"model.layers.{layer}.mlp.gate.e_score_correction_bias", sd.Keys);
        }
        Assert.DoesNotContain(sd.Keys, k => k.StartsWith("model.layers.4.", StringComparison.Ordinal));
    }

    /// <summary>
    /// DeepSeek-V3 eq. 25: loss = CE_main + (λ/D)·Σ_{k=1..D} CE_k, each CE computed here with log_softmax + gather from the
    /// main head's logits and MTP depth k's logits against the targets shifted by k; masked (−100) targets count in no mean.
    /// </summary>
    [Theory]
    [InlineData(1, 0.3)]
    [InlineData(2, 0.3)]
    [InlineData(3, 0.5)]
    [InlineData(2, 0.0)]
    public void ComputeLoss_MtpDepthsWithMaskedTargets_EqualsMainPlusWeightedSumOfDepthCrossEntropies(int depth, double lambda)
    {
        torch.manual_seed(2);
        using var model = new DeepSeekV3ForCausalLM(Tiny(depth, lambda));
        model.train();
        using var ids = torch.randint(0, 32, new long[] { 2, 12 });
        var t = torch.randint(0, 32, new long[] { 2, 12 }).data<long>().ToArray();
        foreach (int i in new[] { 0, 1, 2, 12 + 7, 12 + 11 }) t[i] = -100;              // row 0's first three, row 1's 8th and last
        using var targets = torch.tensor(t, new long[] { 2, 12 });

        var (main, depths) = DeepSeekObjective.CrossEntropiesByHand(model, ids, targets);
        Assert.Equal(depth, depths.Length);
        double expected = main + lambda / depth * depths.Sum();
        using var loss = DeepSeekObjective.Loss(model, ids, targets);
        Assert.Empty(loss.shape);
        double got = loss.item<float>();
        Assert.True(Math.Abs(got - expected) <= 1e-5,
            $"loss {got:R} vs CE_main {main:R} + {lambda}/{depth}·Σ[{string.Join(", ", depths.Select(d => d.ToString("F6")))}] = {expected:R}");
    }

    [Fact]
    public void Loss_RepeatedSequence_FallsWithin30Steps()
    {
        torch.manual_seed(11);
        using var model = new DeepSeekV3ForCausalLM(Tiny(1));
        model.train();
        var pattern = Enumerable.Range(0, 33).Select(i => (long)(i % 8 * 3 + 1)).ToArray();
        using var ids = torch.tensor(pattern[..32]).view(1, -1).expand(4, -1).contiguous();
        using var targets = torch.tensor(pattern[1..]).view(1, -1).expand(4, -1).contiguous();
        using var opt = torch.optim.Adam(model.parameters(), 3e-3);
        double first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            using var scope = torch.NewDisposeScope();
            opt.zero_grad();
            var loss = DeepSeekObjective.Loss(model, ids, targets);
            loss.backward();
            opt.step();
            model.AfterOptimizerStep();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.Equal(4 * 32 * 2, model.LastStepExpertLoads[0].Sum());                  // main MoE layer: B·T·k slots
        Assert.Equal(4 * 31 * 2, model.LastStepExpertLoads[1].Sum());                  // MTP layer sees T − 1 tokens
        Assert.True(last < 0.5 * first, $"loss {first:F3} → {last:F3} did not halve in 30 steps");
    }
}

public sealed class MlaTrainingTests
{
    [Fact]
    public void Loss_NaiveAndAbsorbed_SameLossAndGradients()
    {
        torch.manual_seed(21);
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { NumNextnPredictLayers = 1 });
        model.train();
        using var ids = torch.randint(0, 512, new long[] { 2, 10 });
        using var targets = torch.randint(0, 512, new long[] { 2, 10 });
        var kvB = model.get_parameter("model.layers.1.self_attn.kv_b_proj.weight")!;

        model.AttentionImpl = AttentionImpl.Naive;
        model.zero_grad();
        using var naive = DeepSeekObjective.Loss(model, ids, targets);
        naive.backward();
        using var naiveGrad = kvB.grad!.clone();

        model.AttentionImpl = AttentionImpl.Absorbed;
        model.zero_grad();
        using var absorbed = DeepSeekObjective.Loss(model, ids, targets);
        absorbed.backward();

        Assert.Equal(naive.item<float>(), absorbed.item<float>(), 5);
        Assert.True(naiveGrad.allclose(kvB.grad!, 1e-4, 1e-6), "kv_b_proj gradients differ between MLA paths");
    }
}
