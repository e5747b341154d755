using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

public class PolicyGradientMathTests
{
    private static Tensor M(double[] values, long rows, long columns) => torch.tensor(values, [rows, columns], ScalarType.Float64);

    private static void AssertValues(double[] expected, Tensor actual)
    {
        var got = actual.to(ScalarType.Float64).contiguous().data<double>().ToArray();
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-6);
    }

    [Fact]
    public void MaskedMean_PartialMask_AveragesValidPositionsOnly()
    {
        // valid: 1, 2, 4 → 7/3 = 2.3333333
        using var mean = PolicyGradientMath.MaskedMean(M([1, 2, 3, 4, 5, 6], 2, 3), M([1, 1, 0, 1, 0, 0], 2, 3));
        Assert.Equal(7.0 / 3.0, mean.item<double>(), 1e-6);
    }

    [Fact]
    public void MaskedMean_BoolMaskAllFalse_IsZero()
    {
        using var mask = torch.zeros([2, 3], ScalarType.Bool);
        using var mean = PolicyGradientMath.MaskedMean(M([1, 2, 3, 4, 5, 6], 2, 3), mask);
        Assert.Equal(0.0, mean.item<double>());
    }

    [Fact]
    public void MaskedRowMean_RowWithoutValidTokens_IsZero()
    {
        // row 0: (1 + 2)/2 = 1.5; row 1: none valid → 0
        using var means = PolicyGradientMath.MaskedRowMean(M([1, 2, 3, 4, 5, 6], 2, 3), M([1, 1, 0, 0, 0, 0], 2, 3));
        AssertValues([1.5, 0], means);
    }

    [Fact]
    public void KlEstimators_HalfAndQuarter_MatchHandComputedValues()
    {
        // π = [1/2, 1/4], π_ref = [1/4, 1/2]
        // k1 = ln(π/π_ref) = [ln 2, −ln 2] = [0.6931472, −0.6931472]
        // k2 = ½(ln 2)² = 0.2402265 for both
        // k3 with r = π_ref/π = [1/2, 2]: (r − 1) − ln r = [−0.5 + ln 2, 1 − ln 2] = [0.1931472, 0.3068528]
        using var logp = M([0.5, 0.25], 1, 2).log();
        using var refLogp = M([0.25, 0.5], 1, 2).log();
        AssertValues([0.6931472, -0.6931472], PolicyGradientMath.KlK1(logp, refLogp));
        AssertValues([0.2402265, 0.2402265], PolicyGradientMath.KlK2(logp, refLogp));
        AssertValues([0.1931472, 0.3068528], PolicyGradientMath.KlK3(logp, refLogp));
    }

    [Fact]
    public void KlK3_MaskedMean_SkipsPadding()
    {
        // tokens as above plus padding where π = 0.9, π_ref = 0.01 (k3 would be large); mean of valid = (0.1931472 + 0.3068528)/2 = 0.25
        using var logp = M([0.5, 0.25, 0.9], 1, 3).log();
        using var refLogp = M([0.25, 0.5, 0.01], 1, 3).log();
        using var kl = PolicyGradientMath.MaskedMean(PolicyGradientMath.KlK3(logp, refLogp), M([1, 1, 0], 1, 3));
        Assert.Equal(0.25, kl.item<double>(), 1e-6);
    }

    [Fact]
    public void KlK3_EqualPolicies_IsZero()
    {
        using var logp = M([0.3, 0.7], 1, 2).log();
        AssertValues([0, 0], PolicyGradientMath.KlK3(logp, logp));
    }

    [Fact]
    public void TokenRewards_ScoreAtLastValidToken_MatchesHandComputedValues()
    {
        // β = 0.5, scores [1, 2].
        // row 0 (3 valid): −0.5·[0.1, 0.2, 0.3] = [−0.05, −0.1, −0.15], + 1 at t2 → [−0.05, −0.1, 0.85]
        // row 1 (2 valid): −0.5·[0.4, 0.5] = [−0.2, −0.25], + 2 at t1 → [−0.2, 1.75], padding 0
        using var rewards = PolicyGradientMath.TokenRewards(torch.tensor(new double[] { 1, 2 }),
            M([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 2, 3), M([1, 1, 1, 1, 1, 0], 2, 3), beta: 0.5);
        AssertValues([-0.05, -0.1, 0.85, -0.2, 1.75, 0], rewards);
    }

    [Fact]
    public void TokenRewards_RowWithoutValidTokens_IsAllZero()
    {
        // row 1 has no valid token: its score 3 goes nowhere; row 0 (1 valid): −0.5·0.2 + 1 = 0.9
        using var rewards = PolicyGradientMath.TokenRewards(torch.tensor(new double[] { 1, 3 }),
            M([0.2, 0.4, 0.6, 0.8], 2, 2), M([1, 0, 0, 0], 2, 2), beta: 0.5);
        AssertValues([0.9, 0, 0, 0], rewards);
    }

    [Fact]
    public void Gae_WithPadding_MatchesHandComputedValues()
    {
        // γ = 0.9, λ = 0.5 (γλ = 0.45).
        // row 0: r = [1, 0, 2], V = [0.5, 1, 1.5], all valid
        //   t2: δ = 2 + 0 − 1.5 = 0.5                    A2 = 0.5
        //   t1: δ = 0 + 0.9·1.5 − 1 = 0.35               A1 = 0.35 + 0.45·0.5 = 0.575
        //   t0: δ = 1 + 0.9·1 − 0.5 = 1.4                A0 = 1.4 + 0.45·0.575 = 1.65875
        //   returns A + V = [2.15875, 1.575, 2]
        // row 1: r = [0, 1, 9], V = [1, 2, 7], t2 padding (its 9 and 7 must not leak in)
        //   t1: δ = 1 + 0 − 2 = −1                       A1 = −1
        //   t0: δ = 0 + 0.9·2 − 1 = 0.8                  A0 = 0.8 + 0.45·(−1) = 0.35
        //   returns [1.35, 1, 0]
        var (advantages, returns) = PolicyGradientMath.Gae(M([1, 0, 2, 0, 1, 9], 2, 3), M([0.5, 1, 1.5, 1, 2, 7], 2, 3),
            M([1, 1, 1, 1, 1, 0], 2, 3), gamma: 0.9, lambda: 0.5);
        AssertValues([1.65875, 0.575, 0.5, 0.35, -1, 0], advantages);
        AssertValues([2.15875, 1.575, 2, 1.35, 1, 0], returns);
    }

    [Fact]
    public void Gae_GammaAndLambdaOne_AdvantageIsRewardToGoMinusValue()
    {
        // γ = λ = 1: A_t = Σ_{k≥t} r_k − V_t. r = [1, 2, 3], V = [4, 0, 1] → reward-to-go [6, 5, 3] → A = [2, 5, 2]
        var (advantages, returns) = PolicyGradientMath.Gae(M([1, 2, 3], 1, 3), M([4, 0, 1], 1, 3), M([1, 1, 1], 1, 3), 1, 1);
        AssertValues([2, 5, 2], advantages);
        AssertValues([6, 5, 3], returns);
    }

    [Fact]
    public void Whiten_WithPadding_MatchesHandComputedValues()
    {
        // valid 1, 2, 3, 4: mean 2.5, population variance (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25, std 1.1180340
        // (x − 2.5)/1.1180340 = [−1.3416408, −0.4472136, 0.4472136, 1.3416408]; padding → 0
        using var whitened = PolicyGradientMath.Whiten(M([1, 2, 3, 4, 100, 100], 2, 3), M([1, 1, 1, 1, 0, 0], 2, 3));
        AssertValues([-1.3416408, -0.4472136, 0.4472136, 1.3416408, 0, 0], whitened);
    }

    [Fact]
    public void Whiten_KeepMean_AddsTheMeanBack()
    {
        // as above + 2.5: [1.1583592, 2.0527864, 2.9472136, 3.8416408]
        using var whitened = PolicyGradientMath.Whiten(M([1, 2, 3, 4, 100, 100], 2, 3), M([1, 1, 1, 1, 0, 0], 2, 3), shiftMean: false);
        AssertValues([1.1583592, 2.0527864, 2.9472136, 3.8416408, 0, 0], whitened);
    }

    [Fact]
    public void ClippedPolicyLoss_WithPadding_MatchesHandComputedLossAndClipFraction()
    {
        // ε = 0.2, per token (ρ, A) → −min(ρA, clip(ρ)A), clipped taken?
        //   (1.5, 1):  min(1.5, 1.2) = 1.2     → −1.2  clipped
        //   (0.5, 1):  min(0.5, 0.8) = 0.5     → −0.5
        //   (1.0, −2): min(−2, −2) = −2        →  2
        //   (0.7, −1): min(−0.7, −0.8) = −0.8  →  0.8  clipped
        //   (1.1, 2):  min(2.2, 2.2) = 2.2     → −2.2
        //   (2.0, 5):  padding
        // loss = (−1.2 − 0.5 + 2 + 0.8 − 2.2)/5 = −1.1/5 = −0.22; clip fraction 2/5 = 0.4
        using var oldLogp = M([-1, -2, -0.5, -1, -1, -1], 2, 3);
        using var logp = oldLogp + M([1.5, 0.5, 1.0, 0.7, 1.1, 2.0], 2, 3).log();
        var (loss, clipFraction) = PolicyGradientMath.ClippedPolicyLoss(logp, oldLogp, M([1, 1, -2, -1, 2, 5], 2, 3),
            M([1, 1, 1, 1, 1, 0], 2, 3), clip: 0.2);
        Assert.Equal(-0.22, loss.item<double>(), 1e-6);
        Assert.Equal(0.4, clipFraction.item<double>(), 1e-6);
    }

    [Fact]
    public void ClippedSurrogate_AsymmetricClip_UsesEachBound()
    {
        // ε_low = 0.2, ε_high = 0.28 (DAPO's clip-higher): (ρ 1.5, A 1) → −min(1.5, 1.28) = −1.28;
        // (ρ 0.5, A −1) → −min(−0.5, −0.8) = 0.8
        using var oldLogp = M([0, 0], 1, 2);
        using var logp = M([1.5, 0.5], 1, 2).log();
        using var loss = PolicyGradientMath.ClippedSurrogate(logp, oldLogp, M([1, -1], 1, 2), clipLow: 0.2, clipHigh: 0.28);
        AssertValues([-1.28, 0.8], loss);
    }

    [Fact]
    public void ClippedValueLoss_WithPadding_MatchesHandComputedLossAndClipFraction()
    {
        // ε = 0.2, per token (V, V_old, R): V_clip = V_old + clip(V − V_old, ±0.2); max((V − R)², (V_clip − R)²)
        //   (1.5, 1.0, 2.0): V_clip 1.2, max(0.25, 0.64) = 0.64  clipped larger
        //   (0.9, 1.0, 0.0): V_clip 0.9, max(0.81, 0.81) = 0.81
        //   (0.0, 1.0, 0.0): V_clip 0.8, max(0, 0.64) = 0.64     clipped larger
        //   (3.0, 2.0, 4.0): V_clip 2.2, max(1, 3.24) = 3.24     clipped larger
        //   (2.0, 2.1, 1.0): V_clip 2.0, max(1, 1) = 1
        //   padding
        // loss = 0.5 · (0.64 + 0.81 + 0.64 + 3.24 + 1)/5 = 0.5 · 1.266 = 0.633; clip fraction 3/5 = 0.6
        var (loss, clipFraction) = PolicyGradientMath.ClippedValueLoss(M([1.5, 0.9, 0.0, 3.0, 2.0, 100], 2, 3),
            M([1.0, 1.0, 1.0, 2.0, 2.1, 0], 2, 3), M([2.0, 0.0, 0.0, 4.0, 1.0, -100], 2, 3), M([1, 1, 1, 1, 1, 0], 2, 3), clip: 0.2);
        Assert.Equal(0.633, loss.item<double>(), 1e-6);
        Assert.Equal(0.6, clipFraction.item<double>(), 1e-6);
    }

    [Fact]
    public void Entropy_WithPadding_MatchesHandComputedValue()
    {
        // V = 2: logits [0, 0] → H = ln 2 = 0.6931472; [0, ln 3] → p = [1/4, 3/4],
        //   H = ¼ ln 4 + ¾ ln(4/3) = 0.3465736 + 0.2157616 = 0.5623351
        // valid: row 0 [ln2, H, ln2], row 1 [H] (t1 = [7, −7] and t2 padding)
        // mean = (2·0.6931472 + 2·0.5623351)/4 = 0.6277412
        double ln3 = Math.Log(3);
        using var logits = torch.tensor(new double[] { 0, 0, 0, ln3, 0, 0, 0, ln3, 7, -7, 0, 0 }, [2, 3, 2], ScalarType.Float64);
        using var entropy = PolicyGradientMath.Entropy(logits, M([1, 1, 1, 1, 0, 0], 2, 3));
        Assert.Equal(0.6277412, entropy.item<double>(), 1e-6);
    }

    [Fact]
    public void ExplainedVariance_WithPadding_MatchesHandComputedValue()
    {
        // valid R = [1, 2, 3, 4], V = [1, 2, 3, 5]: Var(R) = 1.25; R − V = [0, 0, 0, −1], mean −0.25,
        //   Var = (3·0.0625 + 0.5625)/4 = 0.1875 → 1 − 0.1875/1.25 = 0.85
        using var ev = PolicyGradientMath.ExplainedVariance(M([1, 2, 3, 5, -9, 9], 2, 3), M([1, 2, 3, 4, 50, 60], 2, 3),
            M([1, 1, 1, 1, 0, 0], 2, 3));
        Assert.Equal(0.85, ev.item<double>(), 1e-6);
    }

    [Fact]
    public void ExplainedVariance_ConstantReturns_IsNaN()
    {
        using var ev = PolicyGradientMath.ExplainedVariance(M([1, 2, 3], 1, 3), M([2, 2, 2], 1, 3), M([1, 1, 1], 1, 3));
        Assert.True(double.IsNaN(ev.item<double>()));
    }

    [Fact]
    public void TokenLogProbs_PaddingTargetMinus100_ReadsFiniteValue()
    {
        // logits [0, ln 3] → ln p = [ln ¼, ln ¾] = [−1.3862944, −0.2876821]; target −100 reads id 0 (to be masked by the caller)
        double ln3 = Math.Log(3);
        using var logits = torch.tensor(new double[] { 0, ln3, 0, ln3 }, [1, 2, 2], ScalarType.Float64);
        using var logp = PolicyGradientMath.TokenLogProbs(logits, torch.tensor(new long[] { 1, -100 }, [1, 2]));
        AssertValues([-0.2876821, -1.3862944], logp);
    }
}
