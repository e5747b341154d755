using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

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

    [Fact]
    public void CrossEntropy_IgnoreIndex_MatchesPyTorchAndIgnoredRowsGetNoGradient()
    {
        torch.manual_seed(9);
        using var logits = torch.randn([5, 7]) * 2;                                 // (N, V)
        using var targets = torch.tensor(new long[] { 3, LanguageModelLoss.IgnoreIndex, 6, LanguageModelLoss.IgnoreIndex, 0 });
        using var a = logits.detach().requires_grad_(true);
        using var b = logits.detach().requires_grad_(true);
        using var expected = nn.functional.cross_entropy(a, targets, ignore_index: LanguageModelLoss.IgnoreIndex);
        expected.backward();
        using var actual = LanguageModelLoss.CrossEntropy(b, targets);
        actual.backward();
        Assert.Equal(expected.item<float>(), actual.item<float>(), 5);
        Assert.True(a.grad!.allclose(b.grad!, rtol: 1e-5, atol: 1e-7));
        Assert.Equal(0f, b.grad![1].abs().sum().item<float>());
        Assert.Equal(0f, b.grad![3].abs().sum().item<float>());
        using var noGrad = LanguageModelLoss.CrossEntropy(logits, targets);          // evaluation path, no autograd
        Assert.Equal(expected.item<float>(), noGrad.item<float>(), 5);
    }

    [Fact]
    public void CrossEntropy_AllTargetsIgnored_IsZeroWithZeroGradient()
    {
        using var logits = torch.randn([3, 4]).requires_grad_(true);
        using var targets = torch.full([3], LanguageModelLoss.IgnoreIndex, ScalarType.Int64);
        using var loss = LanguageModelLoss.CrossEntropy(logits, targets);
        loss.backward();
        Assert.Equal(0f, loss.item<float>());
        Assert.Equal(0f, logits.grad!.abs().sum().item<float>());
    }

    [Fact]
    public void CrossEntropy_CustomIgnoreIndex_SkipsThatId()
    {
        torch.manual_seed(10);
        using var logits = torch.randn([4, 5]);
        using var targets = torch.tensor(new long[] { 1, -1, 2, 4 });
        using var expected = nn.functional.cross_entropy(logits, targets, ignore_index: -1);
        using var actual = LanguageModelLoss.CrossEntropy(logits, targets, ignoreIndex: -1);
        Assert.Equal(expected.item<float>(), actual.item<float>(), 5);
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.BFloat16)]
    public void LinearCrossEntropy_MatchesCrossEntropyOfLinear_ValueAndGradients(ScalarType computeType)
    {
        torch.manual_seed(11);
        using var h0 = torch.randn([10, 6]);                                        // (N, C)
        using var w0 = torch.randn([13, 6]) * 0.5;                                  // (V, C)
        using var targets = torch.tensor(new long[] { 0, 12, 5, LanguageModelLoss.IgnoreIndex, 7, 7, 1, 2, 3, 11 });
        using var h1 = h0.detach().requires_grad_(true);
        using var w1 = w0.detach().requires_grad_(true);
        using var expected = nn.functional.cross_entropy(nn.functional.linear(h1, w1), targets, ignore_index: LanguageModelLoss.IgnoreIndex);
        expected.backward();
        using var h2 = h0.detach().requires_grad_(true);
        using var w2 = w0.detach().requires_grad_(true);
        using var actual = LanguageModelLoss.LinearCrossEntropy(h2, w2, targets, computeType);
        actual.backward();
        double tol = computeType == ScalarType.Float32 ? 1e-5 : 2e-2;
        Assert.Equal(expected.item<float>(), actual.item<float>(), tol);
        Assert.Equal(ScalarType.Float32, h2.grad!.dtype);
        Assert.True(h1.grad!.allclose(h2.grad!, rtol: tol, atol: tol / 10), "dL/dh differs");
        Assert.True(w1.grad!.allclose(w2.grad!, rtol: tol, atol: tol / 10), "dL/dW differs");
    }

    [Fact]
    public void CrossEntropy_ScaledAndSummedLosses_GradientsScaleToo()
    {
        torch.manual_seed(12);
        using var logits0 = torch.randn([6, 9]);
        using var targets = torch.tensor(new long[] { 1, 8, 0, 4, 4, 2 });
        using var l1 = logits0.detach().requires_grad_(true);
        using var expected = 3 * nn.functional.cross_entropy(l1, targets) + nn.functional.cross_entropy(l1 * 2, targets);
        expected.backward();
        using var l2 = logits0.detach().requires_grad_(true);
        using var actual = 3 * LanguageModelLoss.CrossEntropy(l2, targets) + LanguageModelLoss.CrossEntropy(l2 * 2, targets);
        actual.backward();
        Assert.Equal(expected.item<float>(), actual.item<float>(), 1e-5);
        Assert.True(l1.grad!.allclose(l2.grad!, rtol: 1e-5, atol: 1e-6), "gradients of a weighted sum of losses differ");
    }
}
