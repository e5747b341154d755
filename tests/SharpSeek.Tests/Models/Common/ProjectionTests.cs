using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Common;

public class ProjectionTests
{
    /// <summary>Test adapter: LoRA's additive term x·(B·A)ᵀ with fixed A (r, in) and B (out, r).</summary>
    private sealed class LowRank(Tensor a, Tensor b) : IProjectionAdapter
    {
        public Tensor Forward(Tensor x) => nn.functional.linear(nn.functional.linear(x, a), b);
        public Tensor EffectiveWeight(Tensor baseWeight) => baseWeight + b.matmul(a);
    }

    [Fact]
    public void Forward_Fp32Batch_EqualsFunctionalLinear()
    {
        manual_seed(1);
        using var p = new Projection(8, 5);
        using var x = randn(3, 4, 8);
        using var y = p.call(x);
        using var expected = nn.functional.linear(x, p.Weight, p.Bias);
        Assert.Equal(new long[] { 3, 4, 5 }, y.shape);
        Assert.Equal(0.0, (y - expected).abs().max().item<float>());
    }

    [Fact]
    public void Forward_OneRowWithoutGrad_GemvEqualsGeneralPath()
    {
        manual_seed(2);
        using var p = new Projection(70, 33);
        using var x = randn(1, 1, 70);
        using var _ = no_grad();
        using var y = p.call(x);                                                       // one row: the decode GEMV
        using var expected = nn.functional.linear(x, p.Weight, p.Bias);
        Assert.Equal(new long[] { 1, 1, 33 }, y.shape);
        Assert.True((y - expected).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void Forward_Bf16ComputeDType_ResultInBf16FromRoundedOperands()
    {
        manual_seed(3);
        using var p = new Projection(16, 4) { ComputeDType = ScalarType.BFloat16 };
        using var x = randn(2, 16);
        using var y = p.call(x);
        using var expected = nn.functional.linear(x.to(ScalarType.BFloat16), p.Weight.to(ScalarType.BFloat16), p.Bias!.to(ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        Assert.Equal(0.0, (y - expected).to(ScalarType.Float32).abs().max().item<float>());
        Assert.Equal(ScalarType.Float32, p.Weight.dtype);                              // master weights untouched
    }

    [Fact]
    public void Forward_WithAdapter_AddsItsTermAndEffectiveWeightFoldsIt()
    {
        manual_seed(4);
        using var p = new Projection(6, 3, hasBias: false);
        using var a = randn(2, 6);
        using var b = randn(3, 2);
        using var x = randn(5, 6);
        using var plain = p.call(x);
        p.Adapter = new LowRank(a, b);
        using var adapted = p.call(x);
        using var term = x.matmul(a.t()).matmul(b.t());                                // (5, 3)
        Assert.True((adapted - plain - term).abs().max().item<float>() < 1e-5);
        using var viaWeight = nn.functional.linear(x, p.EffectiveWeight());
        Assert.True((adapted - viaWeight).abs().max().item<float>() < 1e-4);
        Assert.False(p.IsPlainMatrix);
    }

    [Fact]
    public void StateDict_KeysAreWeightAndBias_TiedRegistersNone()
    {
        using var p = new Projection(4, 2);
        Assert.Equal(new[] { "weight", "bias" }, p.state_dict().Keys.ToArray());
        using var w = randn(7, 4);
        using var tied = Projection.Tied(() => w);
        Assert.Empty(tied.parameters());
        Assert.Equal(new long[] { 7, 4 }, tied.Weight.shape);
    }
}
