using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

public class PreferenceMathTests
{
    private static readonly double Ln3 = Math.Log(3);

    private static Tensor T(params double[] values) => torch.tensor(values, ScalarType.Float64);

    private static void AssertValues(double[] expected, Tensor actual)
    {
        var got = actual.to(ScalarType.Float64).contiguous().data<double>().ToArray();
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-6);
    }

    [Fact]
    public void BradleyTerryLoss_TwoPairs_MatchesHandComputedValue()
    {
        // differences r_c − r_r = [2 − 1, 0 − 1] = [1, −1]
        // −log σ(1) = log(1 + e^−1) = 0.3132617; −log σ(−1) = log(1 + e) = 1.3132617; mean = 0.8132617
        using var loss = PreferenceMath.BradleyTerryLoss(T(2, 0), T(1, 1));
        Assert.Equal(0.8132617, loss.item<double>(), 1e-6);
    }

    [Fact]
    public void BradleyTerryLoss_EqualRewards_IsLogTwo()
    {
        // σ(0) = 1/2 for every pair: −log(1/2) = ln 2 = 0.6931472
        using var loss = PreferenceMath.BradleyTerryLoss(T(3, -1, 0.5), T(3, -1, 0.5));
        Assert.Equal(0.6931472, loss.item<double>(), 1e-6);
    }

    [Fact]
    public void PairAccuracy_WithTie_CountsTieAsWrong()
    {
        // 2 > 1 right, 0 > 1 wrong, 1 > 1 tie (wrong): 1/3
        using var accuracy = PreferenceMath.PairAccuracy(T(2, 0, 1), T(1, 1, 1));
        Assert.Equal(1.0 / 3.0, accuracy.item<double>(), 1e-6);
    }

    [Fact]
    public void SequenceLogProbs_PromptAndPaddingMasked_SumsCompletionTokensOnly()
    {
        // V = 2. Logits [0, ln 3] → p = [1/4, 3/4]; [0, 0] → [1/2, 1/2]; [ln 3, 0] → [3/4, 1/4].
        // row 0: t0 prompt (masked), t1 [0,0] target 0 → ln 1/2 = −0.6931472, t2 [ln3,0] target 1 → ln 1/4 = −1.3862944
        //        sum = −2.0794415 (= ln 1/8)
        // row 1: t0 [0,0] target 0 → −0.6931472, t1 [0,ln3] target 1 → ln 3/4 = −0.2876821, t2 padding (target −100, masked)
        //        sum = −0.9808293 (= ln 3/8)
        using var logits = torch.tensor(new double[]
        {
            0, Ln3,   0, 0,     Ln3, 0,
            0, 0,     0, Ln3,   5, -5,
        }, [2, 3, 2], ScalarType.Float64);
        using var targets = torch.tensor(new long[] { 1, 0, 1, 0, 1, -100 }, [2, 3]);
        using var mask = torch.tensor(new double[] { 0, 1, 1, 1, 1, 0 }, [2, 3], ScalarType.Float64);
        using var sums = PreferenceMath.SequenceLogProbs(logits, targets, mask);
        AssertValues([-2.0794415, -0.9808293], sums);
    }

    [Fact]
    public void ImplicitRewards_BetaTimesLogRatio_MatchesHandComputedValues()
    {
        // 0.1·(−2 − (−3)) = 0.1; 0.1·(−5 − (−4)) = −0.1
        using var rewards = PreferenceMath.ImplicitRewards(T(-2, -5), T(-3, -4), beta: 0.1);
        AssertValues([0.1, -0.1], rewards);
    }

    [Fact]
    public void DpoLoss_TwoPairs_MatchesHandComputedValue()
    {
        // β = 0.5. pair 0: (−2 − (−3)) − (−6 − (−5)) = 1 − (−1) = 2, β·2 = 1    → −log σ(1) = log(1 + e^−1) = 0.3132617
        //          pair 1: (−4 − (−4)) − (−3.5 − (−5)) = 0 − 1.5 = −1.5, β·(−1.5) = −0.75 → log(1 + e^0.75) = 1.1368710
        // mean = 0.7250663
        using var loss = PreferenceMath.DpoLoss(T(-2, -4), T(-6, -3.5), T(-3, -4), T(-5, -5), beta: 0.5);
        Assert.Equal(0.7250663, loss.item<double>(), 1e-6);
    }

    [Fact]
    public void DpoLoss_PolicyEqualsReference_IsLogTwo()
    {
        // every log-ratio is 0: −log σ(0) = ln 2 = 0.6931472 for any β
        using var loss = PreferenceMath.DpoLoss(T(-2, -7), T(-3, -1), T(-2, -7), T(-3, -1), beta: 0.3);
        Assert.Equal(0.6931472, loss.item<double>(), 1e-6);
    }

    [Fact]
    public void RewardAccuracyAndMargin_DpoPairs_MatchHandComputedValues()
    {
        // same pairs as DpoLoss_TwoPairs: chosen rewards 0.5·[1, 0] = [0.5, 0], rejected 0.5·[−1, 1.5] = [−0.5, 0.75]
        // accuracy: 0.5 > −0.5 yes, 0 > 0.75 no → 0.5; margin: mean(1, −0.75) = 0.125
        using var chosen = PreferenceMath.ImplicitRewards(T(-2, -4), T(-3, -4), beta: 0.5);
        using var rejected = PreferenceMath.ImplicitRewards(T(-6, -3.5), T(-5, -5), beta: 0.5);
        AssertValues([0.5, 0], chosen);
        AssertValues([-0.5, 0.75], rejected);
        using var accuracy = PreferenceMath.PairAccuracy(chosen, rejected);
        using var margin = PreferenceMath.RewardMargin(chosen, rejected);
        Assert.Equal(0.5, accuracy.item<double>(), 1e-6);
        Assert.Equal(0.125, margin.item<double>(), 1e-6);
    }
}
