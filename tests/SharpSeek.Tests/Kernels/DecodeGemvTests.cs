using SharpSeek.Models.Common;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Kernels;
using SharpSeek.Tests.Models.Gpt2;

namespace SharpSeek.Tests.Kernels;

[Collection(SimdPathCollection.Name)]
public class DecodeGemvTests
{
    [Theory]
    [InlineData(37, 19, true)]        // odd sizes: row remainder and column tail
    [InlineData(96, 32, false)]
    [InlineData(1030, 200, true)]     // large enough to split rows over threads
    public void Linear_OneRowNoGrad_MatchesLibTorch(int outFeatures, int inFeatures, bool withBias)
    {
        torch.manual_seed(7);
        var w = torch.randn(outFeatures, inFeatures);
        var b = withBias ? torch.randn(outFeatures) : null;
        var x = torch.randn(1, 1, inFeatures);
        using var _ = torch.no_grad();
        var expected = nn.functional.linear(x, w, b);
        var actual = DecodeGemv.Linear(x, w, b);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void Linear_GradEnabledOnParameters_KeepsAutograd()
    {
        using var layer = nn.Linear(8, 4);
        var y = DecodeGemv.Linear(torch.randn(1, 1, 8), layer.weight!, layer.bias);
        Assert.True(y.requires_grad);
    }

    [Fact]
    public void Forward_CachedGreedySteps_EqualUncachedLogits()
    {
        torch.manual_seed(11);
        using var model = new Gpt2LMHeadModel(Gpt2CheckpointTests.Tiny);
        model.eval();
        using var _ = torch.no_grad();
        var ids = torch.randint(0, Gpt2CheckpointTests.Tiny.VocabSize, [1, 6]);
        var full = model.Logits(ids);                                         // (1, 6, V)
        using var cache = model.CreateKvCache(1, 8);
        model.Logits(ids.narrow(1, 0, 3), cache);
        for (int t = 3; t < 6; t++)
        {
            var step = model.Logits(ids.narrow(1, t, 1), cache);              // (1, 1, V): the one-row path
            Assert.True(step.select(1, 0).allclose(full.select(1, t), rtol: 1e-4, atol: 1e-5));
        }
    }

    // ---- every SIMD path against the scalar path (the reference: each row summed in double, rounded once, so within
    // u = 2^−24 relative of the exact W·x + b). A vector path sums the products of each lane in four accumulators by FMA
    // (one rounding each; at most in/(4L) + 3 in one), adds the four (2 roundings, exact when only the first was used, in < 4L),
    // then the L lanes (L − 1 additions), then the in mod L tail (a product and an addition each) and the bias: at most
    // m = in/L + 3L + 1 roundings on any partial sum, so |Δ| ≤ (m + 1)·u·(Σ|wᵢ·xᵢ| + |b|) (Higham, Accuracy and Stability,
    // §3.1). Column counts ≥ 4L exercise the four accumulators, counts not divisible by 4L, 16 or 8 the shorter loops and the tail. ----

    [Theory]
    [OnSimdPath(SimdPath.Vector512, 37, 19, true)]
    [OnSimdPath(SimdPath.Vector256, 37, 19, true)]
    [OnSimdPath(SimdPath.Scalar, 37, 19, true)]
    [OnSimdPath(SimdPath.Vector512, 6, 33, false)]
    [OnSimdPath(SimdPath.Vector256, 6, 33, false)]
    [OnSimdPath(SimdPath.Scalar, 6, 33, false)]
    [OnSimdPath(SimdPath.Vector512, 96, 32, false)]
    [OnSimdPath(SimdPath.Vector256, 96, 32, false)]
    [OnSimdPath(SimdPath.Scalar, 96, 32, false)]
    [OnSimdPath(SimdPath.Vector512, 7, 150, true)]        // 2·64 + 16 + 6 columns: every loop of the 512 path
    [OnSimdPath(SimdPath.Vector256, 7, 150, true)]        // 4·32 + 2·8 + 6 columns
    [OnSimdPath(SimdPath.Scalar, 7, 150, true)]
    [OnSimdPath(SimdPath.Vector512, 1030, 200, true)]     // 206k weights: rows split over threads
    [OnSimdPath(SimdPath.Vector256, 1030, 200, true)]
    [OnSimdPath(SimdPath.Scalar, 1030, 200, true)]
    public void Linear_EachPath_WithinDotProductBoundOfScalarPath(SimdPath path, int outFeatures, int inFeatures, bool withBias)
    {
        torch.manual_seed(17 + outFeatures);
        var w = torch.randn(outFeatures, inFeatures);
        var b = withBias ? torch.randn(outFeatures) : null;
        var x = torch.randn(1, inFeatures);
        using var _ = torch.no_grad();
        Tensor On(SimdPath p) { using (SimdPaths.Force(p)) return DecodeGemv.Linear(x, w, b); }
        var reference = On(SimdPath.Scalar).to(ScalarType.Float64);
        var y = On(path).to(ScalarType.Float64);
        int lanes = path switch { SimdPath.Vector512 => 16, SimdPath.Vector256 => 8, _ => 0 };
        double m = path == SimdPath.Scalar ? 0 : (double)inFeatures / lanes + 3 * lanes + 1;
        var magnitude = (w.abs() * x.abs()).to(ScalarType.Float64).sum(1) + (b is null ? torch.zeros(1, ScalarType.Float64) : b.abs().to(ScalarType.Float64));   // (out)
        double excess = ((y.view(-1) - reference.view(-1)).abs() - magnitude * ((m + 1) / (1 << 24))).max().item<double>();
        Assert.True(excess <= 0, $"{path}: an output is {excess:E3} beyond the bound");
        var exact = nn.functional.linear(x.to(ScalarType.Float64), w.to(ScalarType.Float64), b?.to(ScalarType.Float64)).view(-1);
        double refExcess = ((reference.view(-1) - exact).abs() - magnitude * (2.0 / (1 << 24))).max().item<double>();
        Assert.True(refExcess <= 0, $"the scalar path is {refExcess:E3} beyond u from the float64 product");
    }
}
