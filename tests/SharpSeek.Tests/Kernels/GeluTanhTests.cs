using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Tests.Kernels;

/// <summary>
/// GeluTanh against LibTorch's gelu(x, approximate: tanh): values and gradients, fp32 and bf16. Besides LibTorch's fp32
/// result, the reference is LibTorch's fp64 gelu of the same inputs: fp32 0.5·x·(1 + tanh(u)) cancels for x &lt; −4
/// (x = −5.09: LibTorch's fp32 gradient is 0, the true value 2.6e−6), where GeluTanh's σ form stays accurate.
/// </summary>
[Collection(SimdPathCollection.Name)]
public class GeluTanhTests
{
    private static Tensor Reference(Tensor x) => nn.functional.gelu(x, GELU.Approximate.tanh);

    private static Tensor Reference64(Tensor x) => Reference(x.to(ScalarType.Float64));

    /// <summary>N(0, 3²) values with zeros, saturated and huge entries mixed in.</summary>
    private static Tensor Inputs(long n, int seed = 1)
    {
        torch.manual_seed(seed);
        var x = torch.randn(n) * 3;
        float[] special = [0f, -0f, 1e4f, -1e4f, 30f, -30f, 12f, -12f, 1e-30f, -1e-30f, 5f, -5f];
        for (int i = 0; i < special.Length && i < n; i++) x[i * (n / special.Length)] = special[i];
        return x;
    }

    /// <summary>Gradient of (f(x)·g).sum() with respect to x: g is random, so every element's derivative counts.</summary>
    private static Tensor Grad(Func<Tensor, Tensor> f, Tensor x, Tensor g)
    {
        var leaf = x.detach().requires_grad_(true);
        (f(leaf) * g).sum().backward();
        return leaf.grad!;
    }

    /// <summary>
    /// Max of |actual − exact| / (|exact|·2^−7 + 1e−12): at most 1 means within one bf16 ulp. Values under 1e−12 are
    /// compared absolutely (fp64's own 1 + tanh cancellation is ~1e−15 there).
    /// </summary>
    private static double Bf16Ulps(Tensor actual, Tensor exact)
    {
        var a = actual.to(ScalarType.Float64);
        return ((a - exact).abs() / (exact.abs() * Math.Pow(2, -7) + 1e-12)).max().item<double>();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(15)]          // scalar tail only
    [InlineData(16)]
    [InlineData(37)]          // 16 + 16 + 5: vector body, then tail
    [InlineData(1000)]
    [InlineData(70_001)]      // above the parallel threshold: 3 blocks, the last one ragged
    public void Apply_Float32_MatchesLibTorch(int n)
    {
        var x = Inputs(n);
        using var _ = torch.no_grad();
        Assert.True(GeluTanh.Apply(x).allclose(Reference(x), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Gradient_Float32_MatchesLibTorchFloat32WithinItsCancellation()
    {
        var x = Inputs(70_001);
        var g = torch.randn(70_001);
        Assert.True(Grad(GeluTanh.Apply, x, g).allclose(Grad(Reference, x, g), rtol: 1e-5, atol: 4e-6));
    }

    [Theory]
    [InlineData(37)]
    [InlineData(70_001)]
    public void Gradient_Float32_MatchesLibTorchFloat64(int n)
    {
        var x = Inputs(n);
        var g = torch.randn(n);
        var exact = Grad(Reference, x.to(ScalarType.Float64), g.to(ScalarType.Float64));
        Assert.True(Grad(GeluTanh.Apply, x, g).to(ScalarType.Float64).allclose(exact, rtol: 1e-5, atol: 1e-6));
    }

    /// <summary>For x &lt; −4 the fp32 rounding of z (~1e−7 relative) grows |z|-fold in exp(−|z|): 1.1e−6 at worst here.</summary>
    [Fact]
    public void Apply_Float32_WithinTwoMillionthsOfLibTorchFloat64()
    {
        var x = torch.linspace(-12, 12, 48_001);
        using var _ = torch.no_grad();
        Assert.True(GeluTanh.Apply(x).to(ScalarType.Float64).allclose(Reference64(x), rtol: 2e-6, atol: 1e-12));
    }

    [Fact]
    public void ApplyAndGradient_Infinities_MatchLibTorchIncludingNaN()
    {
        var x = torch.tensor(new[] { float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e4f, -1e4f, 0f });
        var g = torch.ones(6);
        using (torch.no_grad())
            Assert.True(GeluTanh.Apply(x).allclose(Reference(x), equal_nan: true));
        Assert.True(Grad(GeluTanh.Apply, x, g).allclose(Grad(Reference, x, g), equal_nan: true));
    }

    [Theory]
    [InlineData(37)]
    [InlineData(70_001)]
    public void Apply_BFloat16_WithinOneUlpOfLibTorchFloat64(int n)
    {
        var x = Inputs(n).to(ScalarType.BFloat16);
        using var _ = torch.no_grad();
        var y = GeluTanh.Apply(x);
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        Assert.True(Bf16Ulps(y, Reference64(x)) <= 1);
    }

    [Theory]
    [InlineData(37)]
    [InlineData(70_001)]
    public void Gradient_BFloat16_WithinOneUlpOfLibTorchFloat64(int n)
    {
        var x = Inputs(n).to(ScalarType.BFloat16);
        var g = torch.randn(n).to(ScalarType.BFloat16);
        var dx = Grad(GeluTanh.Apply, x, g);
        Assert.Equal(ScalarType.BFloat16, dx.dtype);
        Assert.True(Bf16Ulps(dx, Grad(Reference, x.to(ScalarType.Float64), g.to(ScalarType.Float64))) <= 1);
    }

    [Fact]
    public void Apply_ThreeDimensional_KeepsShapeAndValues()
    {
        var x = Inputs(2 * 5 * 24).view(2, 5, 24);                                          // (B, T, C)
        using var _ = torch.no_grad();
        var y = GeluTanh.Apply(x);
        Assert.Equal(x.shape, y.shape);
        Assert.True(y.allclose(Reference(x), rtol: 1e-5, atol: 1e-6));
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    [InlineData(ScalarType.BFloat16, 2e-2)]
    public void Gradient_ThroughMatmul_WeightGradientMatchesLibTorch(ScalarType dtype, double rtol)
    {
        torch.manual_seed(3);
        var x = torch.randn(8, 64, 24).to(dtype);                                           // (B, T, C)
        var w0 = (torch.randn(24, 192) * 0.5).to(dtype);                                    // (C, 8C): 98k activations, parallel
        Tensor WeightGrad(Func<Tensor, Tensor> f)
        {
            var w = w0.detach().requires_grad_(true);
            f(x.matmul(w)).sum().backward();                                                 // (B, T, 8C) → ()
            return w.grad!.to(ScalarType.Float32);
        }
        Assert.True(WeightGrad(GeluTanh.Apply).allclose(WeightGrad(Reference), rtol: rtol, atol: rtol));
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void ApplyAndGradient_TwoThreads_EqualOneThread(ScalarType dtype)
    {
        var x = Inputs(3 * 32_768 + 77).to(dtype);                                           // 4 parallel blocks, the last ragged
        var g = torch.randn(x.shape).to(dtype);
        (Tensor Y, Tensor Dx) Run(int threads)
        {
            int before = torch.get_num_threads();
            torch.set_num_threads(threads);
            try
            {
                Tensor y;
                using (torch.no_grad()) y = GeluTanh.Apply(x);
                return (y, Grad(GeluTanh.Apply, x, g));
            }
            finally { torch.set_num_threads(before); }
        }
        var (y1, dx1) = Run(1);
        var (y2, dx2) = Run(2);
        Assert.True((y2 == y1).all().item<bool>() && (dx2 == dx1).all().item<bool>());
    }

    [Fact]
    public void Apply_NoGrad_ReturnsTensorWithoutGraph()
    {
        var x = Inputs(100).requires_grad_(true);
        using var _ = torch.no_grad();
        var y = GeluTanh.Apply(x);
        Assert.False(y.requires_grad);
    }

    [Fact]
    public void Apply_NonContiguousInput_FallsBackWithGradient()
    {
        var x = Inputs(12 * 20).view(12, 20).t();                                           // (20, 12), transposed strides
        var g = torch.randn(20, 12);
        Assert.True(Grad(GeluTanh.Apply, x, g).allclose(Grad(Reference, x, g), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Gradient_NonContiguousOutputGradient_MatchesLibTorch()
    {
        var x = Inputs(24 * 16).view(24, 16);
        var g = torch.randn(16, 24).t();                                                     // (24, 16), transposed strides
        Tensor GradOf(Func<Tensor, Tensor> f)
        {
            var leaf = x.detach().requires_grad_(true);
            f(leaf).backward([g]);
            return leaf.grad!;
        }
        Assert.True(GradOf(GeluTanh.Apply).allclose(GradOf(Reference), rtol: 1e-5, atol: 1e-6));
    }

    // ---- every SIMD path against the scalar path (the reference). Both compute z = x·(C0 + C1·x²) with the same fused
    // multiply-add, so z is the same float and the paths differ by exp (vector ≤ 1.16 ulp, MathF.Exp ≤ 0.5: at most 1 ulp
    // apart, 2u relative with u = 2^−24) and then by the rounding of each later operation, ≤ u per path (2u). Forward,
    // σ = a/(1 + a) or 1/(1 + a), y = x·σ: exp, 1 + a, 1/·, a·r, x·σ give ≤ 5·2u + 1 → 12u·|y|. Gradient
    // g·(σ + x·dz/dx·a·r²) by one FMA: ≤ 10u on each term, 2u for the FMA and 2u for g·: 16u·|g|·(|σ| + |x·dz/dx·σ(1 − σ)|).
    // Where exp(−|z|) is subnormal, its 1-ulp difference and the roundings of a·r and a·r² are absolute (2^−149 each),
    // hence the floors (|x| + 1)·2^−148 and |g|·(|x·dz/dx| + 1)·2^−146. bf16 outputs round those
    // float32 values: equal, or one bf16 ulp apart where a float32 value is within a few float32 ulps of a rounding tie. ----

    private const double U = 1.0 / (1 << 24);                                             // float32 unit roundoff

    private static Tensor OnPath(SimdPath path, Func<Tensor> f)
    {
        using (SimdPaths.Force(path)) return f();
    }

    /// <summary>
    /// σ(z) and x·dz/dx·σ(1 − σ), the two terms of d gelu/dx, and x·dz/dx, in float64; z = 2·√(2/π)·(x + 0.044715·x³).
    /// </summary>
    private static (Tensor Sigma, Tensor T, Tensor XDz) GradTerms(Tensor x)
    {
        var x64 = x.to(ScalarType.Float64);
        var c0 = 2 * Math.Sqrt(2 / Math.PI);
        var z = x64 * (c0 + c0 * 0.044715 * x64 * x64);
        var s = torch.sigmoid(z);
        var xdz = x64 * (c0 + 3 * c0 * 0.044715 * x64 * x64);
        return (s, xdz * s * (1 - s), xdz);
    }

    private static void AssertWithin(Tensor actual, Tensor reference, Tensor tolerance, string what)
    {
        var excess = ((actual.to(ScalarType.Float64) - reference.to(ScalarType.Float64)).abs() - tolerance).max().item<double>();
        Assert.True(excess <= 0, $"{what}: an element is {excess:E3} beyond the tolerance");
    }

    /// <summary>bf16: every element within one bf16 ulp of the reference (2^−7 relative, bf16's subnormal spacing 2^−133 below), at most 0.1% not equal.</summary>
    private static void AssertBf16WithinOneUlpMostlyEqual(Tensor actual, Tensor reference, string what)
    {
        var r = reference.to(ScalarType.Float64);
        AssertWithin(actual, r, r.abs() * Math.Pow(2, -7) + Math.Pow(2, -133), what);
        double differ = actual.ne(reference).to(ScalarType.Float64).mean().item<double>();
        Assert.True(differ <= 1e-3, $"{what}: {differ:P3} of the elements differ from the scalar path");
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void Apply_Float32_EachPathWithin12uOfScalarPath(SimdPath path)
    {
        var x = torch.cat([Inputs(70_001), torch.linspace(-11, 11, 4001)]);                 // 3 blocks + tails; subnormal exps near |x| = 10.3
        using var _ = torch.no_grad();
        var reference = OnPath(SimdPath.Scalar, () => GeluTanh.Apply(x));
        var y = OnPath(path, () => GeluTanh.Apply(x));
        AssertWithin(y, reference, reference.to(ScalarType.Float64).abs() * (12 * U) + (x.abs().to(ScalarType.Float64) + 1) * Math.Pow(2, -148), $"{path} forward");
        if (path != SimdPath.Scalar)                                                          // the forced path ran: its exp is not MathF.Exp
            Assert.False((y == reference).all().item<bool>(), $"{path} gave the scalar path's bits exactly");
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void Gradient_Float32_EachPathWithin16uOfScalarPath(SimdPath path)
    {
        var x = torch.cat([Inputs(70_001), torch.linspace(-11, 11, 4001)]);
        var g = torch.randn(x.shape);
        var reference = OnPath(SimdPath.Scalar, () => Grad(GeluTanh.Apply, x, g));
        var dx = OnPath(path, () => Grad(GeluTanh.Apply, x, g));
        var (s, t, xdz) = GradTerms(x);
        var g64 = g.abs().to(ScalarType.Float64);
        AssertWithin(dx, reference, g64 * (s.abs() + t.abs()) * (16 * U) + g64 * (xdz.abs() + 1) * Math.Pow(2, -146), $"{path} gradient");
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void ApplyAndGradient_BFloat16_EachPathWithinOneUlpOfScalarPath(SimdPath path)
    {
        var x = Inputs(70_001).to(ScalarType.BFloat16);
        var g = torch.randn(70_001).to(ScalarType.BFloat16);
        Tensor Forward() { using (torch.no_grad()) return GeluTanh.Apply(x); }
        AssertBf16WithinOneUlpMostlyEqual(OnPath(path, Forward), OnPath(SimdPath.Scalar, Forward), $"{path} forward");
        AssertBf16WithinOneUlpMostlyEqual(OnPath(path, () => Grad(GeluTanh.Apply, x, g)), OnPath(SimdPath.Scalar, () => Grad(GeluTanh.Apply, x, g)), $"{path} gradient");
    }

    /// <summary>The reference itself: the scalar path meets the fp32 and bf16 bounds the default path meets against LibTorch float64.</summary>
    [Fact]
    public void ScalarPath_Float32AndBFloat16_MatchLibTorchFloat64()
    {
        var x = Inputs(1000);
        var g = torch.randn(1000);
        using (SimdPaths.Force(SimdPath.Scalar))
        {
            var exact = Grad(Reference, x.to(ScalarType.Float64), g.to(ScalarType.Float64));
            Assert.True(Grad(GeluTanh.Apply, x, g).to(ScalarType.Float64).allclose(exact, rtol: 1e-5, atol: 1e-6));
            var lin = torch.linspace(-12, 12, 48_001);
            using (torch.no_grad())
                Assert.True(GeluTanh.Apply(lin).to(ScalarType.Float64).allclose(Reference64(lin), rtol: 2e-6, atol: 1e-12));
            var xb = x.to(ScalarType.BFloat16);
            using (torch.no_grad()) Assert.True(Bf16Ulps(GeluTanh.Apply(xb), Reference64(xb)) <= 1);
        }
    }
}
