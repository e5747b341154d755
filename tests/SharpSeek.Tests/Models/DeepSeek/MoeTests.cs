using SharpSeek.Models.Common;
using SharpSeek.Training.Objectives;
using SharpSeek.Models.DeepSeek;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.DeepSeek;

public sealed class MoeTests
{
    [Fact]
    public void UpdateBias_FourExperts_MatchesHandComputedValues()
    {
        // loads [10, 2, 4, 4] → mean 5 → sign(5 − load) = [−1, +1, +1, +1]; γ = 0.01
        using var bias = torch.tensor(new float[] { 0.1f, 0f, -0.2f, 0.05f });
        using var loads = torch.tensor(new long[] { 10, 2, 4, 4 });
        using var updated = MoeGate.UpdateBias(bias, loads, 0.01);
        Assert.Equal(new[] { 0.09f, 0.01f, -0.19f, 0.06f }, updated.data<float>().ToArray(), new FloatTolerance(1e-7f));
        Assert.Equal(0.1f, bias[0].item<float>());                                         // pure: input untouched
    }

    [Fact]
    public void UpdateBias_BalancedLoad_Unchanged()
    {
        using var bias = torch.tensor(new float[] { 0.3f, -0.3f });
        using var updated = MoeGate.UpdateBias(bias, torch.tensor(new long[] { 7, 7 }), 0.5);
        Assert.True(updated.eq(bias).all().item<bool>());
    }

    private sealed class FloatTolerance(float tol) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tol;
        public int GetHashCode(float obj) => 0;
    }

    [Fact]
    public void Route_GroupLimit_PicksOnlyFromBestGroup()
    {
        // 4 experts in 2 groups; group 0 = {0.9, 0.1} (top-2 sum 1.0), group 1 = {0.6, 0.5} (1.1) → group 1 wins although expert 0 is best.
        using var gate = new MoeGate(new DeepSeekV3Config { NRoutedExperts = 4, NGroup = 2, TopkGroup = 1, NumExpertsPerTok = 2, RoutedScalingFactor = 1.0 });
        using var scores = torch.tensor(new float[] { 0.9f, 0.1f, 0.6f, 0.5f }).view(1, 4);
        var (idx, w) = gate.Route(scores);
        Assert.Equal(new long[] { 2, 3 }, idx.data<long>().ToArray());
        Assert.Equal(0.6 / 1.1, w[0, 0].item<float>(), 5);
    }

    [Fact]
    public void Forward_TrainingMode_RecordsTokenCountsPerExpert()
    {
        torch.manual_seed(3);
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config());
        model.train();
        using var ids = torch.randint(0, 512, new long[] { 2, 10 });
        model.Logits(ids).Dispose();
        var moes = model.MoeLayers.ToList();
        Assert.Equal(2, moes.Count);
        foreach (var moe in moes) Assert.Equal(2 * 10 * 2, moe.PeekLoadCounts().Sum());  // B·T·k slots
        var loads = model.UpdateRouterBiases(1e-3);
        Assert.All(loads, l => Assert.Equal(40, l.Sum()));
        Assert.All(moes, m => Assert.Equal(0, m.PeekLoadCounts().Sum()));                  // reset after the update
        Assert.Contains(moes[0].Gate.Bias.data<float>().ToArray(), v => v != 0);
    }

    [Fact]
    public void UpdateRouterBiases_SumOverRanks_UpdatesFromTheSummedCountsOfEveryLayer()
    {
        torch.manual_seed(3);
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config());
        model.train();
        using var ids = torch.randint(0, 512, new long[] { 2, 10 });
        model.Logits(ids).Dispose();
        var moes = model.MoeLayers.ToList();
        int experts = (int)moes[0].Gate.Bias.shape[0];
        var local = moes.SelectMany(m => m.PeekLoadCounts()).ToArray();
        long[]? passed = null;
        int calls = 0;
        // a stand-in for the other ranks: the global load is 100 tokens on expert 0 of each layer, none elsewhere
        var loads = model.UpdateRouterBiases(0.5, counts =>
        {
            calls++;
            passed = (long[])counts.Clone();
            for (int i = 0; i < counts.Length; i++) counts[i] = i % experts == 0 ? 100 : 0;
        });
        Assert.Equal(1, calls);                                                             // one collective for all layers
        Assert.Equal(local, passed);                                                        // this replica's counts, layer after layer
        foreach (var (moe, load) in moes.Zip(loads))
        {
            Assert.Equal([100L, .. new long[experts - 1]], load);                          // the summed counts are reported
            var expected = new float[experts];
            Array.Fill(expected, 0.5f);
            expected[0] = -0.5f;                                                            // above the mean: down by γ; below: up by γ
            Assert.Equal(expected, moe.Gate.Bias.data<float>().ToArray());
        }
    }

    [Fact]
    public void Forward_EvalMode_DoesNotCountTokens()
    {
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config());
        model.eval();
        using var _ = torch.no_grad();
        model.Logits(torch.zeros(1, 4, dtype: ScalarType.Int64)).Dispose();
        Assert.All(model.MoeLayers, m => Assert.Equal(0, m.PeekLoadCounts().Sum()));
    }

    [Fact]
    public void BalanceLoss_TwoSequencesFourExpertsTop2_MatchesHandComputedValue()
    {
        // α·mean_b Σ_i f_i·P_i with E = 4, k = 2, T = 2, α = 0.1; f_i = E/(k·T)·count_i = count_i, P_i = mean_t of s_t,i / Σ_j s_t,j.
        // Sequence 0: s = [0.4, 0.3, 0.2, 0.1] (Σ 1)   → [0.4, 0.3, 0.2, 0.1], experts {0, 1}
        //             s = [0.05, 0.05, 0.2, 0.2] (Σ 0.5) → [0.1, 0.1, 0.4, 0.4], experts {2, 3}
        //             P = [0.25, 0.2, 0.3, 0.25], counts [1, 1, 1, 1] → f = [1, 1, 1, 1]; Σ f·P = 1.0
        // Sequence 1: s = [1.2, 0.4, 0.2, 0.2] (Σ 2)   → [0.6, 0.2, 0.1, 0.1], experts {0, 1}
        //             s = [0.5, 0.1, 0.3, 0.1] (Σ 1)   → [0.5, 0.1, 0.3, 0.1], experts {0, 2}
        //             P = [0.55, 0.15, 0.2, 0.1], counts [2, 1, 1, 0] → f = [2, 1, 1, 0]; Σ f·P = 1.1 + 0.15 + 0.2 = 1.45
        // loss = 0.1 · (1.0 + 1.45) / 2 = 0.1225
        using var moe = new DeepSeekMoe(new DeepSeekV3Config
        {
            HiddenSize = 8, MoeIntermediateSize = 4, NRoutedExperts = 4, NGroup = 1, TopkGroup = 1, NumExpertsPerTok = 2, AuxLossAlpha = 0.1,
        });
        using var scores = torch.tensor(new float[]
        {
            0.4f, 0.3f, 0.2f, 0.1f,   0.05f, 0.05f, 0.2f, 0.2f,
            1.2f, 0.4f, 0.2f, 0.2f,   0.5f, 0.1f, 0.3f, 0.1f,
        }, new long[] { 2, 2, 4 });
        using var indices = torch.tensor(new long[] { 0, 1, 2, 3, 0, 1, 0, 2 }, new long[] { 2, 2, 2 });
        using var loss = moe.BalanceLoss(scores, indices);
        Assert.Empty(loss.shape);
        Assert.Equal(0.1225, loss.item<float>(), 6);
    }

    [Fact]
    public void BalanceLoss_OneToken_GradientMatchesHandDerivative()
    {
        // d/ds of α/B·Σ_i f_i·mean_t(s_t,i/Σ_j s_t,j) for one sequence (B = 1), one token (T = 1), k = 1,
        // E = 2, α = 1: s = [1, 3] (Σ 4), expert 1 chosen → f = E/(k·T)·[0, 1] = [0, 2]; loss = 2·s_1/(s_0 + s_1) = 1.5;
        // ∂/∂s_0 = −2·s_1/Σ² = −0.375, ∂/∂s_1 = 2·s_0/Σ² = 0.125.
        using var moe = new DeepSeekMoe(new DeepSeekV3Config
        {
            HiddenSize = 8, MoeIntermediateSize = 4, NRoutedExperts = 2, NGroup = 1, TopkGroup = 1, NumExpertsPerTok = 1, AuxLossAlpha = 1.0,
        });
        using var scores = torch.tensor(new float[] { 1f, 3f }, new long[] { 1, 1, 2 }).requires_grad_();
        using var loss = moe.BalanceLoss(scores, torch.tensor(new long[] { 1 }, new long[] { 1, 1, 1 }));
        Assert.Equal(1.5, loss.item<float>(), 6);
        loss.backward();
        Assert.Equal(new[] { -0.375f, 0.125f }, scores.grad!.data<float>().ToArray(), new FloatTolerance(1e-6f));
    }

    [Fact]
    public void ComputeLoss_WithBalanceAlpha_AddsEachMoeLayersBalanceLoss()
    {
        using var ids = torch.randint(0, 512, new long[] { 2, 8 }, generator: new Generator(4));
        using var targets = torch.randint(0, 512, new long[] { 2, 8 }, generator: new Generator(5));
        torch.manual_seed(7);
        using var plain = new DeepSeekV3ForCausalLM(new DeepSeekV3Config());
        torch.manual_seed(7);
        using var balanced = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { AuxLossAlpha = 0.1 });
        plain.train(); balanced.train();

        // The balance terms of the same forward, one per MoE layer (their values are checked by hand above).
        double terms = 0;
        using (torch.no_grad())
        {
            using var output = balanced.call(new CausalLMInput(ids));
            foreach (var term in output.AuxiliaryLosses) terms += term.item<float>();
            Assert.Equal(2, output.AuxiliaryLosses.Count);
        }
        Assert.Equal(2, balanced.MoeLayers.Count());
        Assert.True(terms > 0, "no balance term was recorded");

        using var l0 = DeepSeekObjective.Loss(plain, ids, targets);
        using var l1 = DeepSeekObjective.Loss(balanced, ids, targets);
        Assert.Equal(l0.item<float>() + terms, l1.item<float>(), 5);
    }
}
