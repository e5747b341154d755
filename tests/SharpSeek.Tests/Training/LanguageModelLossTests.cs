using SharpSeek.Training.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training;

public class LanguageModelLossTests
{
    [Fact]
    public void CrossEntropy_Float32_MatchesAutogradLossAndGradient()
    {
        torch.manual_seed(7);
        using var logits = torch.randn([6, 11]) * 3;                                // (N, V)
        using var targets = torch.tensor(new long[] { 0, 3, 10, 3, 5, 1 });
        using var a = logits.detach().requires_grad_(true);
        using var b = logits.detach().requires_grad_(true);
        using var expected = nn.functional.cross_entropy(a, targets);
        expected.backward();
        using var actual = LanguageModelLoss.CrossEntropy(b, targets);
        actual.backward();
        Assert.Equal(expected.item<float>(), actual.item<float>(), 5);
        Assert.True(a.grad!.allclose(b.grad!, rtol: 1e-5, atol: 1e-7));
    }

    [Fact]
    public void CrossEntropy_Bf16Logits_GradientIsBf16AndCloseToFloat32()
    {
        torch.manual_seed(8);
        using var logits = torch.randn([4, 9]);
        using var targets = torch.tensor(new long[] { 8, 0, 4, 4 });
        using var a = logits.detach().requires_grad_(true);
        using var b = logits.to(ScalarType.BFloat16).detach().requires_grad_(true);
        nn.functional.cross_entropy(a, targets).backward();
        using var loss = LanguageModelLoss.CrossEntropy(b, targets);
        loss.backward();
        Assert.Equal(ScalarType.Float32, loss.dtype);
        Assert.Equal(ScalarType.BFloat16, b.grad!.dtype);
        Assert.True(a.grad!.allclose(b.grad!.to(ScalarType.Float32), rtol: 0.02, atol: 2e-3));
    }
}
