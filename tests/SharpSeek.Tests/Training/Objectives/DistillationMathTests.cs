using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>Forward, reverse and mixed KL, the teacher mixture and the top-k targets, against values worked out by hand.</summary>
public class DistillationMathTests
{
    private static readonly float Ln2 = MathF.Log(2);

    // τ = 2: student logits 0 → q = ⅓ each; teacher logits [0, 2 ln 2, 0] → at τ = 2 [0, ln 2, 0] → p = [¼, ½, ¼].
    private static (Tensor Student, Tensor TeacherLogProbs) Tau2Row() =>
        (zeros(1, 3), DistillationMath.LogProbs(tensor(new float[] { 0, 2 * Ln2, 0 }, [1, 3]), 2.0));

    // Forward KL(p ‖ q) = Σ p ln 3p = ½ ln ¾ + ½ ln 1.5 = ½ ln(9/8). Reverse KL(q ‖ p) = ⅓ (2 ln(4/3) + ln(2/3)) = ⅓ ln(32/27).
    private static readonly double Forward = 0.5 * Math.Log(9.0 / 8), Reverse = Math.Log(32.0 / 27) / 3;

    [Fact]
    public void Divergence_ForwardAtTemperatureTwo_MatchesHandComputedValue()
    {
        var (student, logP) = Tau2Row();
        Assert.Equal(Forward, DistillationMath.Divergence(student, logP, 2.0, DivergenceKind.Forward).item<float>(), 6);
    }

    [Fact]
    public void Divergence_ReverseAtTemperatureTwo_MatchesHandComputedValue()
    {
        var (student, logP) = Tau2Row();
        Assert.Equal(Reverse, DistillationMath.Divergence(student, logP, 2.0, DivergenceKind.Reverse).item<float>(), 6);
    }

    [Fact]
    public void Divergence_MixQuarter_IsQuarterForwardPlusThreeQuartersReverse()
    {
        var (student, logP) = Tau2Row();
        Assert.Equal(0.25 * Forward + 0.75 * Reverse, DistillationMath.Divergence(student, logP, 2.0, DivergenceKind.Mix, 0.25).item<float>(), 6);
    }

    [Theory]
    [InlineData(DivergenceKind.Forward, 0.0)]
    [InlineData(DivergenceKind.Forward, 0.5)]
    [InlineData(DivergenceKind.Reverse, 0.0)]
    [InlineData(DivergenceKind.Reverse, 0.5)]
    [InlineData(DivergenceKind.Mix, 0.0)]
    [InlineData(DivergenceKind.Mix, 0.5)]
    public void Mix_AlphaAtTemperatureTwo_IsAlphaCePlusFourTimesOneMinusAlphaDivergence(DivergenceKind kind, double alpha)
    {
        // The hard labels see the raw logits (0 → uniform): CE = ln 3 whatever the target. τ² = 4.
        var (student, logP) = Tau2Row();
        var ce = LanguageModelLoss.CrossEntropy(student, tensor(new long[] { 1 }));
        var d = DistillationMath.Divergence(student, logP, 2.0, kind, 0.5);
        double dHand = kind switch { DivergenceKind.Forward => Forward, DivergenceKind.Reverse => Reverse, _ => 0.5 * (Forward + Reverse) };
        Assert.Equal(alpha * Math.Log(3) + (1 - alpha) * 4 * dHand, DistillationMath.Mix(ce, d, 2.0, alpha).item<float>(), 5);
    }

    [Fact]
    public void Divergence_KeepMask_LeavesMaskedRowOut()
    {
        var (student, logP) = Tau2Row();
        var twoRows = cat([student, student + 5], 0);                                 // row 1: same softmax, masked anyway
        var targets = cat([logP, DistillationMath.LogProbs(zeros(1, 3), 1.0)], 0);     // row 1: uniform target, KL 0
        var keep = tensor(new[] { true, false });
        Assert.Equal(Forward, DistillationMath.Divergence(twoRows, targets, 2.0, keep: keep).item<float>(), 6);
        Assert.Equal(Forward / 2, DistillationMath.Divergence(twoRows, targets, 2.0).item<float>(), 6);
    }

    [Fact]
    public void MixtureLogProbs_WeightsOneAndThree_IsWeightedAverageOfDistributions()
    {
        // Teacher A: logits 0 → ⅓ each. Teacher B at τ = 2: [0, 2 ln 2, 0] → [¼, ½, ¼]. Weights 1 : 3 → ¼ A + ¾ B = [13, 22, 13] / 48.
        var a = zeros(1, 3);
        var b = tensor(new float[] { 0, 2 * Ln2, 0 }, [1, 3]);
        var p = DistillationMath.MixtureLogProbs([a, b], [1.0, 3.0], 2.0).exp().data<float>().ToArray();
        Assert.Equal(13.0 / 48, p[0], 6);
        Assert.Equal(22.0 / 48, p[1], 6);
        Assert.Equal(13.0 / 48, p[2], 6);
    }

    [Fact]
    public void MixtureLogProbs_OneTeacher_IsItsLogSoftmaxAtTau()
    {
        var z = tensor(new float[] { 1, 2, 3, 4 }, [1, 4]);
        var expected = (z / 3.0).log_softmax(-1);
        Assert.True(DistillationMath.MixtureLogProbs([z], [5.0], 3.0).allclose(expected, 1e-6, 1e-6));
    }

    [Fact]
    public void TopK_TwoOfFour_KeepsLargestIdsRenormalised()
    {
        // p = [0.1, 0.5, 0.3, 0.1], k = 2 → ids [1, 2], p renormalised over them: [5/8, 3/8].
        var logP = tensor(new float[] { 0.1f, 0.5f, 0.3f, 0.1f }, [1, 4]).log();
        var (ids, lp) = DistillationMath.TopK(logP, 2);
        Assert.Equal(new long[] { 1, 2 }, ids.data<long>().ToArray());
        var p = lp.exp().data<float>().ToArray();
        Assert.Equal(5.0 / 8, p[0], 6);
        Assert.Equal(3.0 / 8, p[1], 6);
    }

    [Fact]
    public void Divergence_TopKForward_UsesFullStudentLogSoftmax()
    {
        // Student logits 0 over 4 ids → q = ¼; target ids [1, 2] with p = [5/8, 3/8]: Σ p ln(p/q) = 5/8 ln(5/2) + 3/8 ln(3/2).
        var ids = tensor(new long[] { 1, 2 }, [1, 2]);
        var logP = tensor(new float[] { 5f / 8, 3f / 8 }, [1, 2]).log();
        double expected = 5.0 / 8 * Math.Log(2.5) + 3.0 / 8 * Math.Log(1.5);
        Assert.Equal(expected, DistillationMath.Divergence(zeros(1, 4), logP, 1.0, DivergenceKind.Forward, targetIds: ids).item<float>(), 6);
    }

    [Fact]
    public void Divergence_TopKReverse_UsesStudentRestrictedAndRenormalisedToTheKIds()
    {
        // q restricted to ids [1, 2] and renormalised: [½, ½]; Σ q ln(q/p) = ½ ln(4/5) + ½ ln(4/3) = ½ ln(16/15).
        var ids = tensor(new long[] { 1, 2 }, [1, 2]);
        var logP = tensor(new float[] { 5f / 8, 3f / 8 }, [1, 2]).log();
        Assert.Equal(0.5 * Math.Log(16.0 / 15), DistillationMath.Divergence(zeros(1, 4), logP, 1.0, DivergenceKind.Reverse, targetIds: ids).item<float>(), 6);
    }

    [Theory]
    [InlineData(DivergenceKind.Forward)]
    [InlineData(DivergenceKind.Reverse)]
    [InlineData(DivergenceKind.Mix)]
    public void Divergence_TopKWithKEqualToVocabulary_EqualsFullRows(DivergenceKind kind)
    {
        var g = new Generator(7);
        var student = randn(5, 6, generator: g);
        var logP = DistillationMath.LogProbs(randn(5, 6, generator: g), 1.5);
        var (ids, lp) = DistillationMath.TopK(logP, 6);
        double full = DistillationMath.Divergence(student, logP, 1.5, kind).item<float>();
        Assert.Equal(full, DistillationMath.Divergence(student, lp, 1.5, kind, targetIds: ids).item<float>(), 5);
    }

    [Fact]
    public void Divergence_Gradient_ReachesStudentOnly()
    {
        var (student, target) = Tau2Row();
        var logP = target.detach().requires_grad_(true);
        student.requires_grad = true;
        DistillationMath.Divergence(student, logP, 2.0, DivergenceKind.Mix).backward();
        Assert.NotNull(student.grad);
        Assert.Null(logP.grad);
    }
}
