using SharpSeek.Tests.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>The soft-label maths of Hinton et al. 2015 on 2 positions × 3 tokens, against values worked out by hand.</summary>
public class DistillationObjectiveTests
{
    // Row 0: teacher logits ln[1, 2, 1], student 0 (uniform). Row 1: teacher 0 (uniform), student ln[1, 1, 2].
    private static (Tensor Student, Tensor Teacher) Logits() =>
        (tensor(new float[] { 0, 0, 0, 0, 0, MathF.Log(2) }, [2, 3]), tensor(new float[] { 0, MathF.Log(2), 0, 0, 0, 0 }, [2, 3]));

    // τ = 1: row 0: p = [¼, ½, ¼], q = ⅓ → Σ p ln(p/q) = ½ ln ¾ + ½ ln 1.5 = ½ ln 1.125.
    //        row 1: p = ⅓, q = [¼, ¼, ½] → ⅓ (2 ln(4/3) + ln(2/3)) = ⅓ ln(32/27).
    private static readonly double Kl0 = 0.5 * Math.Log(1.125), Kl1 = Math.Log(32.0 / 27) / 3;

    // τ = 2: the logits halve. Row 0: p = [1, √2, 1]/(2 + √2), q = ⅓ → Σ p ln 3p. Row 1: p = ⅓, q = [1, 1, √2]/(2 + √2).
    private static readonly double S = Math.Sqrt(2), Z = 2 + Math.Sqrt(2);
    private static readonly double Kl0Tau2 = 2 / Z * Math.Log(3 / Z) + S / Z * Math.Log(3 * S / Z);
    private static readonly double Kl1Tau2 = (2 * Math.Log(Z / 3) + Math.Log(Z / (3 * S))) / 3;

    [Fact]
    public void KlDivergence_TwoTokensThreeVocab_MatchesHandComputedValue()
    {
        var (student, teacher) = Logits();
        Assert.Equal((Kl0 + Kl1) / 2, DistillationObjective.KlDivergence(student, teacher, 1.0).item<float>(), 6);
    }

    [Fact]
    public void KlDivergence_TemperatureTwo_MatchesHandComputedValue()
    {
        var (student, teacher) = Logits();
        Assert.Equal((Kl0Tau2 + Kl1Tau2) / 2, DistillationObjective.KlDivergence(student, teacher, 2.0).item<float>(), 6);
    }

    [Fact]
    public void KlDivergence_IgnoredTarget_LeavesThatPositionOut()
    {
        var (student, teacher) = Logits();
        var targets = tensor(new long[] { LanguageModelLoss.IgnoreIndex, 0 });
        Assert.Equal(Kl1, DistillationObjective.KlDivergence(student, teacher, 1.0, targets).item<float>(), 6);
    }

    [Fact]
    public void Mix_HalfHardLabelsTemperatureTwo_IsHalfCePlusTwiceKl()
    {
        var (student, teacher) = Logits();
        var targets = tensor(new long[] { 2, 0 });
        var ce = LanguageModelLoss.CrossEntropy(student, targets);          // row 0: ln 3 (uniform); row 1: −ln ¼ = ln 4
        var kl = DistillationObjective.KlDivergence(student, teacher, 2.0, targets);
        double expected = 0.5 * (Math.Log(3) + Math.Log(4)) / 2 + 0.5 * 4 * (Kl0Tau2 + Kl1Tau2) / 2;
        Assert.Equal(expected, DistillationObjective.Mix(ce, kl, 2.0, 0.5).item<float>(), 6);
    }

    [Fact]
    public void KlDivergence_Gradient_IsTauTimesStudentMinusTeacherSoftmaxOverN()
    {
        // d(τ²·KL)/dz = τ·(q^τ − p^τ)/N (Hinton et al. 2015, §2). Row 0 at τ = 2: (⅓ − [1, √2, 1]/(2 + √2)) · 2 / 2.
        var (student, teacher) = Logits();
        student.requires_grad = true;
        DistillationObjective.Mix(tensor(0f), DistillationObjective.KlDivergence(student, teacher, 2.0), 2.0, 0.0).backward();
        var grad = student.grad!.data<float>().ToArray();
        double[] row0 = [1.0 / 3 - 1 / Z, 1.0 / 3 - S / Z, 1.0 / 3 - 1 / Z];
        double[] row1 = [1 / Z - 1.0 / 3, 1 / Z - 1.0 / 3, S / Z - 1.0 / 3];
        for (int i = 0; i < 3; i++) { Assert.Equal(row0[i], grad[i], 6); Assert.Equal(row1[i], grad[3 + i], 6); }
        Assert.Null(teacher.grad);
    }

    [Fact]
    public void Constructor_Teacher_IsFrozen()
    {
        var teacher = new TinyLM(32, 16);
        var objective = new DistillationObjective(TrainingTestData.Data(), 2, 8, teacher);
        Assert.Same(teacher, Assert.Single(objective.FrozenModels));
        Assert.False(teacher.training);
        Assert.All(teacher.parameters(), p => Assert.False(p.requires_grad));
    }

    [Fact]
    public void Validate_TeacherVocabularyDiffers_ThrowsConfigException()
    {
        var objective = new DistillationObjective(TrainingTestData.Data(), 2, 8, new TinyLM(40, 16));
        var e = Assert.Throws<ConfigException>(() => objective.Validate(new TinyLM(32, 16)));
        Assert.Contains("vocabulary", e.Message);
    }

    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(1.0, 1.5)]
    public void Constructor_BadTemperatureOrWeight_ThrowsConfigException(double temperature, double weight)
    {
        Assert.Throws<ConfigException>(() => new DistillationObjective(TrainingTestData.Data(), 2, 8, new TinyLM(32, 16), temperature, weight));
    }
}
