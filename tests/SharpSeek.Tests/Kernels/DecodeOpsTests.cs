using SharpSeek.Kernels;
using SharpSeek.Models.Common;
using SharpSeek.Models.Gpt2;
using SharpSeek.Quantization;
using SharpSeek.Tests.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Kernels;

[Collection(SimdPathCollection.Name)]
public unsafe class DecodeOpsTests
{
    [Fact]
    public void LayerNorm_OneRow_MatchesLibTorch()
    {
        torch.manual_seed(3);
        var x = torch.randn(37) * 3 + 1.5;
        var gamma = torch.randn(37);
        var beta = torch.randn(37);
        var expected = nn.functional.layer_norm(x, [37], gamma, beta, 1e-5);
        var y = torch.empty(37);
        DecodeOps.LayerNorm(DecodeOps.Address(x), DecodeOps.Address(gamma), DecodeOps.Address(beta), DecodeOps.Address(y), 37, 1e-5);
        Assert.True(y.allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void LayerNorm_ConstantRow_GivesBeta()
    {
        var x = torch.full(8, 2.5f);
        var gamma = torch.ones(8) * 3;
        var beta = torch.arange(8, dtype: ScalarType.Float32);
        var y = torch.empty(8);
        DecodeOps.LayerNorm(DecodeOps.Address(x), DecodeOps.Address(gamma), DecodeOps.Address(beta), DecodeOps.Address(y), 8, 1e-5);
        Assert.Equal(beta.data<float>().ToArray(), y.data<float>().ToArray());   // (x − mean) = 0 exactly
    }

    [Fact]
    public void Add_OddLength_AddsEveryElement()
    {
        var x = torch.arange(19, dtype: ScalarType.Float32);
        var y = torch.full(19, 0.5f);
        DecodeOps.Add(DecodeOps.Address(x), DecodeOps.Address(y), 19);
        Assert.Equal(Enumerable.Range(0, 19).Select(i => i + 0.5f).ToArray(), x.data<float>().ToArray());
    }

    [Fact]
    public void Address_NarrowedView_PointsAtItsFirstElement()
    {
        var t = torch.arange(10, dtype: ScalarType.Float32);
        var view = t.narrow(0, 3, 4);
        Assert.Equal(3f, *DecodeOps.Address(view));
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512, 1, 16)]
    [OnSimdPath(SimdPath.Vector512, 37, 64)]
    [OnSimdPath(SimdPath.Vector256, 37, 64)]
    [OnSimdPath(SimdPath.Scalar, 37, 64)]
    [OnSimdPath(SimdPath.Vector512, 5, 12)]      // d not a multiple of 16 or 8: the tails
    [OnSimdPath(SimdPath.Vector256, 5, 12)]
    public void Attention_OneQuery_MatchesScaledDotProductAttention(SimdPath path, int keys, int d)
    {
        torch.manual_seed(keys + d);
        var q = torch.randn(1, 1, 1, d);
        var k = torch.randn(1, 1, keys, d);
        var v = torch.randn(1, 1, keys, d);
        var expected = nn.functional.scaled_dot_product_attention(q, k, v).view(-1);       // (d)
        var scores = torch.empty(keys);
        var output = torch.empty(d);
        using (SimdPaths.Force(path))
            DecodeOps.Attention(DecodeOps.Address(q), DecodeOps.Address(k), DecodeOps.Address(v), keys, d, 1f / MathF.Sqrt(d),
                                DecodeOps.Address(scores), DecodeOps.Address(output));
        Assert.True(output.allclose(expected, rtol: 1e-5, atol: 1e-5), $"{path}: {(output - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void Attention_OneKey_ReturnsItsValue()
    {
        var q = torch.randn(8);
        var k = torch.randn(8);
        var v = torch.arange(8, dtype: ScalarType.Float32);
        var scores = torch.empty(1);
        var output = torch.empty(8);
        DecodeOps.Attention(DecodeOps.Address(q), DecodeOps.Address(k), DecodeOps.Address(v), 1, 8, 0.5f, DecodeOps.Address(scores), DecodeOps.Address(output));
        Assert.Equal(v.data<float>().ToArray(), output.data<float>().ToArray());   // softmax of one score is exactly 1
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void Gpt2DecodeStep_EachPath_MatchesGeneralPathAndCache(SimdPath path)
    {
        torch.manual_seed(5);
        using var model = new Gpt2LMHeadModel(Gpt2CheckpointTests.Tiny);
        model.eval();
        var ids = torch.randint(0, Gpt2CheckpointTests.Tiny.VocabSize, [1, 7]);
        using var fast = model.CreateKvCache(1, 8);
        using var general = model.CreateKvCache(1, 8);
        using var force = SimdPaths.Force(path);
        using (torch.no_grad()) model.Logits(ids.narrow(1, 0, 4), fast);
        using (torch.no_grad()) model.Logits(ids.narrow(1, 0, 4), general);
        for (int t = 4; t < 7; t++)
        {
            var step = ids.narrow(1, t, 1);
            Tensor a, b;
            using (torch.no_grad()) a = model.Logits(step, fast);                    // the fast path: no grad, eval, batch 1, one token
            using (torch.enable_grad()) b = model.Logits(step, general).detach();    // grad enabled: the general path
            Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-5), $"{path}, step {t}: {(a - b).abs().max().item<float>()}");
        }
        Assert.Equal(7, fast.Length);
        for (int slot = 0; slot < 2; slot++)                                          // keys, values: the fast path wrote the same
        {
            var f = ((Gpt2KvCache)fast).Storage(1, slot).narrow(2, 0, 7);
            var g = ((Gpt2KvCache)general).Storage(1, slot).narrow(2, 0, 7);
            Assert.True(f.allclose(g, rtol: 1e-5, atol: 1e-6));
        }
    }

    [Theory]
    [InlineData(8, false)]
    [InlineData(4, true)]     // int4 with the tied head (and so the embedding table) quantized
    public void Gpt2DecodeStep_QuantizedModel_MatchesGeneralPath(int bits, bool includeHead)
    {
        torch.manual_seed(9);
        using var model = new Gpt2LMHeadModel(Gpt2CheckpointTests.Tiny);
        model.eval();
        ModelQuantizer.Quantize(model, new QuantizationConfig { Bits = bits, GroupSize = bits == 4 ? 32 : null, IncludeHead = includeHead });
        var ids = torch.randint(0, Gpt2CheckpointTests.Tiny.VocabSize, [1, 6]);
        using var fast = model.CreateKvCache(1, 8);
        using var general = model.CreateKvCache(1, 8);
        using var noGrad = torch.no_grad();
        model.Logits(ids.narrow(1, 0, 3), fast);
        model.Logits(ids.narrow(1, 0, 3), general);
        for (int t = 3; t < 6; t++)
        {
            var step = ids.narrow(1, t, 1);
            var a = model.Logits(step, fast);                                                                  // the fast path
            using var output = model.call(new CausalLMInput(step) { Cache = general, OutputHiddenStates = true });   // hidden states: the general path
            var b = output.TakeLogits();
            Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-5), $"int{bits}, step {t}: {(a - b).abs().max().item<float>()}");
        }
    }
}
