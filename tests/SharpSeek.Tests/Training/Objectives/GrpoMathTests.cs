using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

public class GrpoMathTests
{
    private static Tensor T(params double[] values) => torch.tensor(values, ScalarType.Float64);

    private static Tensor M(double[] values, long rows, long columns) => torch.tensor(values, [rows, columns], ScalarType.Float64);

    private static void AssertValues(double[] expected, Tensor actual)
    {
        var got = actual.to(ScalarType.Float64).contiguous().data<double>().ToArray();
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-6);
    }

    [Fact]
    public void Advantages_TwoGroups_MatchHandComputedValues()
    {
        // group [1, 0, 0, 1]: mean 0.5, unbiased std √(4·0.25/3) = √(1/3) = 0.5773503; ±0.5 / (0.5773503 + 1e-4) = ±0.8658754
        // group [2, 2, 2, 2]: every deviation 0 → 0 (std 0, no NaN thanks to eps)
        using var advantages = GrpoMath.Advantages(T(1, 0, 0, 1, 2, 2, 2, 2), groupSize: 4);
        AssertValues([0.8658754, -0.8658754, -0.8658754, 0.8658754, 0, 0, 0, 0], advantages);
    }

    [Fact]
    public void Advantages_GroupOfThreeWithoutEps_UsesUnbiasedStd()
    {
        // [1, 2, 6]: mean 3, deviations [−2, −1, 3], unbiased variance (4 + 1 + 9)/2 = 7, std √7 = 2.6457513
        // → [−0.7559289, −0.3779645, 1.1338934]
        using var advantages = GrpoMath.Advantages(T(1, 2, 6), groupSize: 3, eps: 0);
        AssertValues([-0.7559289, -0.3779645, 1.1338934], advantages);
    }

    [Fact]
    public void Advantages_ScaleOff_IsRewardMinusGroupMean()
    {
        // Dr. GRPO: [1, 2, 6] → mean 3 → [−2, −1, 3]; [5, 5] would be 0 either way
        using var advantages = GrpoMath.Advantages(T(1, 2, 6, 4, 4, 4), groupSize: 3, scale: false);
        AssertValues([-2, -1, 3, 0, 0, 0], advantages);
    }

    [Fact]
    public void Advantages_AllEqualGroupFloat32_ZeroAndFinite()
    {
        using var advantages = GrpoMath.Advantages(torch.tensor(new float[] { 0.7f, 0.7f, 0.7f, 0.7f }), groupSize: 4);
        Assert.Equal(new float[] { 0, 0, 0, 0 }, advantages.data<float>().ToArray());
    }

    /// <summary>
    /// β = 0.1, ε = 0.2. Row 0 (A = 1):
    ///   t0: π = π_old = 0.5 → ρ = 1, surrogate −1; π_ref = 0.25 → r = π_ref/π = 0.5, k3 = 0.5 − 1 − ln 0.5 = 0.1931472
    ///       loss = −1 + 0.1·0.1931472 = −0.9806853
    ///   t1: π = 0.6, π_old = 0.4 → ρ = 1.5, clipped to 1.2 → surrogate −1.2; π_ref = π → k3 = 0; loss = −1.2
    /// Row 1 (A = −0.5):
    ///   t0: π = 0.3, π_old = 0.5 → ρ = 0.6; ρA = −0.3, clip(ρ)A = 0.8·(−0.5) = −0.4, min = −0.4 → surrogate 0.4;
    ///       π_ref = 0.6 → r = 2, k3 = 2 − 1 − ln 2 = 0.3068528; loss = 0.4 + 0.03068528 = 0.4306853
    ///   t1: padding (π 0.9, π_old 0.1, π_ref 0.1: masked out)
    /// </summary>
    private static (Tensor Logp, Tensor Old, Tensor Ref, Tensor Advantages, Tensor Mask) Example() => (
        M([0.5, 0.6, 0.3, 0.9], 2, 2).log(),
        M([0.5, 0.4, 0.5, 0.1], 2, 2).log(),
        M([0.25, 0.6, 0.6, 0.1], 2, 2).log(),
        T(1, -0.5),
        M([1, 1, 1, 0], 2, 2));

    [Fact]
    public void TokenLoss_ClippedWithK3_MatchesHandComputedValues()
    {
        var (logp, old, reference, advantages, _) = Example();
        using var loss = GrpoMath.TokenLoss(logp, old, reference, advantages, clipLow: 0.2, clipHigh: 0.2, beta: 0.1);
        var got = loss.data<double>().ToArray();
        Assert.Equal(-0.9806853, got[0], 1e-6);
        Assert.Equal(-1.2, got[1], 1e-6);
        Assert.Equal(0.4306853, got[2], 1e-6);
    }

    [Fact]
    public void TokenLoss_BetaZero_IsClippedSurrogateOnly()
    {
        // same example without the KL term: [−1, −1.2, 0.4] on the valid tokens
        var (logp, old, reference, advantages, _) = Example();
        using var loss = GrpoMath.TokenLoss(logp, old, reference, advantages, clipLow: 0.2, clipHigh: 0.2, beta: 0);
        var got = loss.data<double>().ToArray();
        Assert.Equal(-1.0, got[0], 1e-6);
        Assert.Equal(-1.2, got[1], 1e-6);
        Assert.Equal(0.4, got[2], 1e-6);
    }

    [Fact]
    public void Reduce_PerSequence_AveragesEachCompletionThenTheGroup()
    {
        // row 0: (−0.9806853 − 1.2)/2 = −1.0903426; row 1: 0.4306853 (one valid token); mean = −0.3298287
        var (logp, old, reference, advantages, mask) = Example();
        using var tokenLoss = GrpoMath.TokenLoss(logp, old, reference, advantages, 0.2, 0.2, 0.1);
        using var loss = GrpoMath.Reduce(tokenLoss, mask, GrpoLossNormalisation.PerSequence);
        Assert.Equal(-0.3298287, loss.item<double>(), 1e-6);
    }

    [Fact]
    public void Reduce_PerToken_AveragesOverAllValidTokens()
    {
        // (−0.9806853 − 1.2 + 0.4306853)/3 = −1.75/3 = −0.5833333
        var (logp, old, reference, advantages, mask) = Example();
        using var tokenLoss = GrpoMath.TokenLoss(logp, old, reference, advantages, 0.2, 0.2, 0.1);
        using var loss = GrpoMath.Reduce(tokenLoss, mask, GrpoLossNormalisation.PerToken);
        Assert.Equal(-0.5833333, loss.item<double>(), 1e-6);
    }
    [Fact]
    public void Reduce_PerTokenBackward_MatchesHandComputedGradientAndPaddingGetsNone()
    {
        // d loss_t / d log π = −ρA where the unclipped term is taken (0 where the clipped one is) + β·(1 − π_ref/π) from k3;
        // divided by the 3 valid tokens:
        //   row 0 t0: ρ = 1 unclipped, A = 1 → −1; r = 0.5 → 0.1·0.5 = 0.05;   (−1 + 0.05)/3 = −0.3166667
        //   row 0 t1: clipped (ρ 1.5 > 1.2, A > 0) → 0; r = 1 → 0;               0
        //   row 1 t0: clipped (ρ 0.6 < 0.8, A < 0) → 0; r = 2 → 0.1·(−1) = −0.1; −0.1/3 = −0.0333333
        //   row 1 t1: padding → exactly 0
        var (logp, old, reference, advantages, mask) = Example();
        using var leaf = logp.detach().requires_grad_(true);
        using var loss = GrpoMath.Reduce(GrpoMath.TokenLoss(leaf, old, reference, advantages, 0.2, 0.2, 0.1), mask, GrpoLossNormalisation.PerToken);
        loss.backward();
        var grad = leaf.grad!.data<double>().ToArray();
        Assert.Equal(-0.3166667, grad[0], 1e-6);
        Assert.Equal(0.0, grad[1], 1e-6);
        Assert.Equal(-0.0333333, grad[2], 1e-6);
        Assert.Equal(0.0, grad[3]);
    }

    [Fact]
    public void ClampedK3_LargeLogRatio_CappedAndSmallOnesUntouched()
    {
        // log π_ref − log π = 10 → k3 = e^10 − 11 = 22015.4658; = −0.5 → e^−0.5 + 0.5 − 1 = 0.1065307
        var logp = M([-12.0, -1.0], 1, 2);
        var refLogp = M([-2.0, -1.5], 1, 2);
        AssertValues([22015.4657948, 0.1065307], GrpoMath.ClampedK3(logp, refLogp, 0));
        AssertValues([10.0, 0.1065307], GrpoMath.ClampedK3(logp, refLogp, 10));
        var capped = logp.clone().requires_grad_(true);
        GrpoMath.ClampedK3(capped, refLogp, 10).sum().backward();
        // d k3 / d log π = 1 − exp(log π_ref − log π): 0 where capped, 1 − e^−0.5 = 0.3934693 elsewhere
        AssertValues([0.0, 0.3934693], capped.grad!);
    }
}
