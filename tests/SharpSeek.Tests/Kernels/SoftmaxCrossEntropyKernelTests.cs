using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Tests.Kernels;

[Collection(SimdPathCollection.Name)]
public class SoftmaxCrossEntropyKernelTests
{
    /// <summary>LibTorch in float64: Σ w·(−log softmax[t]) and w·(softmax − one-hot), from the logits' exact values.</summary>
    private static (double Loss, Tensor Grad) Reference(Tensor logits, Tensor targets, Tensor weights)
    {
        using var scope = NewDisposeScope();
        var logp = logits.to(ScalarType.Float64).log_softmax(-1);                          // (n, V)
        var w = weights.to(ScalarType.Float64).unsqueeze(1);                               // (n, 1)
        var loss = -(logp.gather(1, targets.unsqueeze(1)) * w).sum().item<double>();
        var onehot = nn.functional.one_hot(targets, logits.shape[1]).to(ScalarType.Float64);   // (n, V)
        return (loss, ((logp.exp() - onehot) * w).MoveToOuterDisposeScope());
    }

    /// <summary>Runs the kernel on a copy of <paramref name="logits"/>; returns the loss and the gradient in float64.</summary>
    private static (double Loss, Tensor Grad) Kernel(Tensor logits, Tensor targets, Tensor weights)
    {
        using var g = logits.clone();
        double loss = SoftmaxCrossEntropyKernel.LossAndGradientInPlace(g, targets, weights);
        return (loss, g.to(ScalarType.Float64));
    }

    private static (Tensor Logits, Tensor Targets, Tensor Weights) Inputs(int n, int v, ScalarType dtype, int seed)
    {
        torch.manual_seed(seed);
        var logits = (torch.randn(n, v) * 3).to(dtype);                                    // (n, V)
        var targets = torch.randint(0, v, n, ScalarType.Int64);                            // (n)
        var weights = torch.rand(n) / n;                                                    // (n)
        return (logits, targets, weights);
    }

    /// <summary>Spacing of bfloat16 numbers at |x| (8 significant bits), floored at float32's smallest normal.</summary>
    private static Tensor Bf16Ulp(Tensor x) =>
        torch.pow(2.0, torch.floor(torch.log2(x.abs().clamp_min(Math.Pow(2, -126)))) - 7);

    /// <summary>float32: within 1e-6 of the float64 reference; bf16: within one bf16 ulp of it.</summary>
    private static void AssertGradientClose(Tensor expected, Tensor actual, ScalarType dtype)
    {
        using var tolerance = dtype == ScalarType.Float32 ? torch.full_like(expected, 1e-6) : Bf16Ulp(expected);
        double excess = ((actual - expected).abs() - tolerance).max().item<double>();
        Assert.True(excess <= 0, $"an element of the gradient is {excess} beyond the tolerance");
    }

    [Fact]
    public void LossAndGradientInPlace_Float32_MatchesFloat64Reference()
    {
        var (logits, targets, weights) = Inputs(37, 1000, ScalarType.Float32, seed: 1);
        var (expectedLoss, expectedGrad) = Reference(logits, targets, weights);
        var (loss, grad) = Kernel(logits, targets, weights);
        Assert.Equal(expectedLoss, loss, expectedLoss * 1e-5);
        AssertGradientClose(expectedGrad, grad, ScalarType.Float32);
    }

    [Fact]
    public void LossAndGradientInPlace_Bf16_GradientIsFloat64ReferenceWithinOneBf16Ulp()
    {
        var (logits, targets, weights) = Inputs(20, 3000, ScalarType.BFloat16, seed: 2);
        var (expectedLoss, expectedGrad) = Reference(logits, targets, weights);
        var (loss, grad) = Kernel(logits, targets, weights);
        Assert.Equal(expectedLoss, loss, expectedLoss * 1e-5);
        AssertGradientClose(expectedGrad, grad, ScalarType.BFloat16);
        using var rounded = expectedGrad.to(ScalarType.BFloat16).to(ScalarType.Float64);   // round to nearest even
        double same = grad.eq(rounded).to(ScalarType.Float64).mean().item<double>();
        Assert.True(same > 0.99, $"only {same:P2} of the elements equal the rounded reference");
    }

    [Fact]
    public void LossAndGradientInPlace_ZeroWeightRows_GetZeroGradientAndAddNoLoss()
    {
        var (logits, targets, weights) = Inputs(6, 100, ScalarType.Float32, seed: 4);
        weights[1] = torch.tensor(0f);
        weights[4] = torch.tensor(0f);
        var (expectedLoss, _) = Reference(logits, targets, weights);
        var (loss, grad) = Kernel(logits, targets, weights);
        Assert.Equal(expectedLoss, loss, expectedLoss * 1e-5);
        Assert.Equal(0.0, grad[1].abs().sum().item<double>());
        Assert.Equal(0.0, grad[4].abs().sum().item<double>());
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void LossAndGradientInPlace_HugeAndNegativeInfinityLogits_MatchReferenceWithoutNaN(ScalarType dtype)
    {
        var (logits, targets, weights) = Inputs(4, 50, dtype, seed: 5);
        logits[0, 3] = torch.tensor(1e4f);                                                // dominates row 0
        logits[1, 7] = torch.tensor(-1e4f);
        logits[1, 8] = torch.tensor(1e4f);
        logits[2, TensorIndex.Slice(0, 25)] = torch.tensor(float.NegativeInfinity);        // half of row 2 impossible
        logits[3, 0] = torch.tensor(float.NegativeInfinity);
        targets[0] = torch.tensor(3L);
        targets[1] = torch.tensor(7L);                                                      // loss ≈ 2e4
        targets[2] = torch.tensor(30L);
        var (expectedLoss, expectedGrad) = Reference(logits, targets, weights);
        var (loss, grad) = Kernel(logits, targets, weights);
        Assert.False(grad.isnan().any().item<bool>());
        Assert.Equal(expectedLoss, loss, expectedLoss * 1e-5);
        AssertGradientClose(expectedGrad, grad, dtype);
    }

    [Theory]
    [InlineData(1, ScalarType.Float32)]
    [InlineData(7, ScalarType.Float32)]
    [InlineData(17, ScalarType.BFloat16)]
    [InlineData(33, ScalarType.Float32)]
    [InlineData(1003, ScalarType.BFloat16)]
    public void LossAndGradientInPlace_VocabularyNotMultipleOf16_MatchesReference(int v, ScalarType dtype)
    {
        var (logits, targets, weights) = Inputs(5, v, dtype, seed: 6 + v);
        var (expectedLoss, expectedGrad) = Reference(logits, targets, weights);
        var (loss, grad) = Kernel(logits, targets, weights);
        Assert.Equal(expectedLoss, loss, Math.Max(expectedLoss * 1e-5, 1e-9));
        AssertGradientClose(expectedGrad, grad, dtype);
    }

    [Fact]
    public void LossAndGradientInPlace_SingleRow_MatchesReference()
    {
        using var logits = torch.tensor(new float[] { 1f, 2f, 3f, 0.5f }).unsqueeze(0);   // (1, 4)
        using var targets = torch.tensor(new long[] { 2 });
        using var weights = torch.tensor(new float[] { 1f });
        var (expectedLoss, expectedGrad) = Reference(logits, targets, weights);
        var (loss, grad) = Kernel(logits, targets, weights);
        Assert.Equal(expectedLoss, loss, 1e-6);
        Assert.True(grad.allclose(expectedGrad, rtol: 0, atol: 1e-7));
    }

    [Fact]
    public void LossAndGradientInPlace_TwoThreads_SameLossAndGradientAsOne()
    {
        var (logits, targets, weights) = Inputs(300, 2048, ScalarType.BFloat16, seed: 7);  // three blocks of 128 rows: parallel path
        int saved = torch.get_num_threads();
        try
        {
            torch.set_num_threads(1);
            var (loss1, grad1) = Kernel(logits, targets, weights);
            torch.set_num_threads(2);
            var (loss2, grad2) = Kernel(logits, targets, weights);
            Assert.Equal(loss1, loss2);
            Assert.True(grad1.equal(grad2).all().item<bool>());
        }
        finally { torch.set_num_threads(saved); }
    }

    [Theory]
    [InlineData("logits float64")]
    [InlineData("logits 1-D")]
    [InlineData("logits transposed")]
    [InlineData("logits require grad")]
    [InlineData("targets int32")]
    [InlineData("targets wrong length")]
    [InlineData("target = V")]
    [InlineData("target = -1")]
    [InlineData("weights float64")]
    [InlineData("weights 2-D")]
    public void LossAndGradientInPlace_BadInput_ThrowsArgumentExceptionAndLeavesLogits(string bad)
    {
        var (logits, targets, weights) = Inputs(4, 8, ScalarType.Float32, seed: 8);
        var original = logits;
        using var before = logits.clone();
        switch (bad)
        {
            case "logits float64": logits = logits.to(ScalarType.Float64); break;
            case "logits 1-D": logits = logits.view(-1); break;
            case "logits transposed": logits = torch.randn(8, 4).t(); break;
            case "logits require grad": logits = logits.requires_grad_(true); break;
            case "targets int32": targets = targets.to(ScalarType.Int32); break;
            case "targets wrong length": targets = targets.narrow(0, 0, 3); break;
            case "target = V": targets[2] = torch.tensor(8L); break;
            case "target = -1": targets[2] = torch.tensor(-1L); break;
            case "weights float64": weights = weights.to(ScalarType.Float64); break;
            case "weights 2-D": weights = weights.unsqueeze(1); break;
        }
        Assert.Throws<ArgumentException>(() => SoftmaxCrossEntropyKernel.LossAndGradientInPlace(logits, targets, weights));
        Assert.True(original.detach().equal(before).all().item<bool>(), "logits were written before the input was validated");
    }

    // ---- every SIMD path against the scalar path (the reference: Σ exp in double). A vector path sums a row's exps in
    // 2 accumulators × L lanes (L = 16 or 8) of ⌈V/2L⌉ terms, adds the two (1 addition) and the L lanes (L − 1), then the
    // V mod L tail in double: relative error ≤ (V/2L + L + 1)·u, u = 2^−24, for a sum of positive terms in any order;
    // each exp is ≤ 1 ulp (2u) from the scalar path's and the float32 roundings of the two sums add 2u: ρ = (V/2L + L + 5)·u
    // bounds |Δ log Σ|, so |Δ loss| ≤ ρ·Σ w. Gradient w/Σ·exp: ρ + 2u (exp) + 2u (w/Σ) + 2u (product) relative; the target
    // element subtracts w afterwards (+2u of |result|): tolerance (ρ + 8u)·(|g| + w·[target]), floored at w·2^−147 where
    // an exp is subnormal. bf16 outputs round those: within one bf16 ulp, almost all equal. ----

    private const double U = 1.0 / (1 << 24);

    private static int Lanes(SimdPath path) => path switch { SimdPath.Vector512 => 16, SimdPath.Vector256 => 8, _ => 1 };

    private static double Rho(SimdPath path, int v) => path == SimdPath.Scalar ? 0 : ((double)v / (2 * Lanes(path)) + Lanes(path) + 5) * U;

    private static (double Loss, Tensor Grad) KernelOn(SimdPath path, Tensor logits, Tensor targets, Tensor weights)
    {
        using (SimdPaths.Force(path)) return Kernel(logits, targets, weights);
    }

    /// <summary><paramref name="n"/> rows of <paramref name="v"/> logits, every fifth row ignored (weight 0, as ignore_index).</summary>
    private static (Tensor Logits, Tensor Targets, Tensor Weights) InputsWithIgnoredRows(int v, ScalarType dtype, int n = 300)
    {
        var (logits, targets, weights) = Inputs(n, v, dtype, seed: 20 + v);
        weights[TensorIndex.Slice(0, null, 5)] = torch.tensor(0f);
        return (logits, targets, weights);
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512, 1003)]
    [OnSimdPath(SimdPath.Vector256, 1003)]
    [OnSimdPath(SimdPath.Scalar, 1003)]
    [OnSimdPath(SimdPath.Vector512, 50257)]         // GPT-2's vocabulary: odd, 50257 = 16·3141 + 1
    [OnSimdPath(SimdPath.Vector256, 50257)]
    public void LossAndGradientInPlace_Float32_EachPathWithinSummationBoundOfScalarPath(SimdPath path, int v)
    {
        var (logits, targets, weights) = InputsWithIgnoredRows(v, ScalarType.Float32, n: v > 10_000 ? 10 : 300);   // 300 × 1003: two blocks of rows
        var (refLoss, refGrad) = KernelOn(SimdPath.Scalar, logits, targets, weights);
        var (loss, grad) = KernelOn(path, logits, targets, weights);
        double rho = Rho(path, v), wSum = weights.sum().item<float>();
        Assert.True(Math.Abs(loss - refLoss) <= rho * wSum, $"{path}: loss {loss:R} vs {refLoss:R}, bound {rho * wSum:E3}");
        if (path != SimdPath.Scalar) Assert.NotEqual(refLoss, loss);                          // the forced path ran: float32 lanes, not double
        var w = weights.to(ScalarType.Float64).unsqueeze(1);                                // (n, 1)
        var onehot = nn.functional.one_hot(targets, v).to(ScalarType.Float64);                 // (n, V)
        var tolerance = (refGrad.abs() + w * onehot) * (rho + 8 * U) + w * Math.Pow(2, -147);
        double excess = ((grad - refGrad).abs() - tolerance).max().item<double>();
        Assert.True(excess <= 0, $"{path}: an element of the gradient is {excess:E3} beyond the tolerance");
        Assert.Equal(0.0, grad[TensorIndex.Slice(0, null, 5)].abs().sum().item<double>());   // ignored rows: zeros
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void LossAndGradientInPlace_Bf16_EachPathWithinOneBf16UlpOfScalarPath(SimdPath path)
    {
        const int v = 1003;
        var (logits, targets, weights) = InputsWithIgnoredRows(v, ScalarType.BFloat16);
        var (refLoss, refGrad) = KernelOn(SimdPath.Scalar, logits, targets, weights);
        var (loss, grad) = KernelOn(path, logits, targets, weights);
        double rho = Rho(path, v), wSum = weights.sum().item<float>();
        Assert.True(Math.Abs(loss - refLoss) <= rho * wSum, $"{path}: loss {loss:R} vs {refLoss:R}, bound {rho * wSum:E3}");
        AssertGradientClose(refGrad, grad, ScalarType.BFloat16);                               // one bf16 ulp
        double differ = grad.ne(refGrad).to(ScalarType.Float64).mean().item<double>();
        Assert.True(differ <= 1e-3, $"{path}: {differ:P3} of the gradient differs from the scalar path");
        Assert.Equal(0.0, grad[TensorIndex.Slice(0, null, 5)].abs().sum().item<double>());
    }

    /// <summary>The reference itself: the scalar path meets the float64 bounds the default path meets.</summary>
    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void LossAndGradientInPlace_ScalarPath_MatchesFloat64Reference(ScalarType dtype)
    {
        var (logits, targets, weights) = InputsWithIgnoredRows(1003, dtype);
        var (expectedLoss, expectedGrad) = Reference(logits, targets, weights);
        var (loss, grad) = KernelOn(SimdPath.Scalar, logits, targets, weights);
        Assert.Equal(expectedLoss, loss, expectedLoss * 1e-5);
        AssertGradientClose(expectedGrad, grad, dtype);
    }
}
