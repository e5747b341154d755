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
    public void Forward_EvalMode_DoesNotCountTokens()
    {
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config());
        model.eval();
        using var _ = torch.no_grad();
        model.Logits(torch.zeros(1, 4, dtype: ScalarType.Int64)).Dispose();
        Assert.All(model.MoeLayers, m => Assert.Equal(0, m.PeekLoadCounts().Sum()));
    }

    [Fact]
    public void Loss_WithBalanceAlpha_AddsPositiveBalanceTerm()
    {
        using var ids = torch.randint(0, 512, new long[] { 2, 8 }, generator: new Generator(4));
        using var targets = torch.randint(0, 512, new long[] { 2, 8 }, generator: new Generator(5));
        torch.manual_seed(7);
        using var plain = new DeepSeekV3ForCausalLM(new DeepSeekV3Config());
        torch.manual_seed(7);
        using var balanced = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { AuxLossAlpha = 0.1 });
        plain.train(); balanced.train();
        double l0 = LanguageModelObjective.Loss(plain, ids, targets).item<float>(), l1 = LanguageModelObjective.Loss(balanced, ids, targets).item<float>();
        // Σ_i f_i P_i ≥ ... > 0 per layer; two MoE layers at α = 0.1 add a clearly visible amount.
        Assert.True(l1 - l0 > 0.01, $"balance term {l1 - l0} not added");
    }
}
