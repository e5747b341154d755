using SharpSeek.Models.Common;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Tests.Models.Gpt2;

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
        var y = DecodeGemv.Linear(layer, torch.randn(1, 1, 8));
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
}
