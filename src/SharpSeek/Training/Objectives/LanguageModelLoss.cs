using SharpSeek.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>Cross-entropy building blocks of the objectives: plain, and fused with a linear output head.</summary>
public static class LanguageModelLoss
{
    /// <summary>Target id that <see cref="CrossEntropy"/> skips (PyTorch's and Hugging Face's convention): prompt tokens in SFT, padding.</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// Mean cross-entropy of <paramref name="logits"/> (N, V), any float dtype, against <paramref name="targets"/> (N), computed
    /// in float32; targets equal to <paramref name="ignoreIndex"/> are skipped and the mean is over the rest (0 when none
    /// is left, where PyTorch would give NaN). The loss and its gradient (softmax − one-hot) / n are formed together in one
    /// (N, V) buffer of the logits' dtype (<see cref="SoftmaxCrossEntropyKernel"/> on CPU) and handed to autograd as they
    /// are (<see cref="KnownGradient"/>) instead of autograd's log-softmax + NLL backward: for a 50k vocabulary that
    /// backward was the largest single cost of a bf16 CPU training step.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, long ignoreIndex = IgnoreIndex)
    {
        using var scope = NewDisposeScope();
        bool withGrad = logits.requires_grad && is_grad_enabled();
        Tensor grad;
        double loss;
        using (no_grad())
        {
            var (index, weight) = MeanWeights(targets, ignoreIndex);                       // (N, 1), (N, 1)
            grad = empty(logits.shape, logits.dtype, logits.device).copy_(logits);         // (N, V) contiguous copy, becomes the gradient
            loss = LossAndGradientInPlace(grad, index, weight);
        }
        var result = withGrad ? KnownGradient.Apply(loss, (logits, grad)) : tensor((float)loss);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mean cross-entropy of the output head <c>h·Wᵀ</c> (h (N, C), W (V, C)) against <paramref name="targets"/> (N), with the
    /// matmuls in <paramref name="computeType"/> and the softmax in float32, without ever holding the (N, V) logits in
    /// float32: the logits G = h·Wᵀ (computeType) become their own gradient (softmax − one-hot)/n in place, and dh = G·W,
    /// dW = Gᵀ·h are two matmuls computed with the loss (fused linear + cross-entropy, as in Liger-Kernel; Hsu et al. 2024).
    /// Same value and gradients as <see cref="CrossEntropy"/> on <c>linear(h, W)</c> up to the compute type's rounding.
    /// </summary>
    public static Tensor LinearCrossEntropy(Tensor h, Tensor weight, Tensor targets, ScalarType computeType, long ignoreIndex = IgnoreIndex)
    {
        using var scope = NewDisposeScope();
        bool withGrad = (h.requires_grad || weight.requires_grad) && is_grad_enabled();
        double loss;
        Tensor gradH, gradW;
        using (no_grad())
        {
            var hc = h.detach().to(computeType);                                           // (N, C)
            var wc = weight.detach().to(computeType);                                      // (V, C)
            var (index, rowWeight) = MeanWeights(targets, ignoreIndex);                    // (N, 1), (N, 1)
            var g = mm(hc, wc.t());                                                        // (N, V) logits, then their gradient
            loss = LossAndGradientInPlace(g, index, rowWeight);
            if (!withGrad) return tensor((float)loss).MoveToOuterDisposeScope();
            gradH = mm(g, wc).to(h.dtype);                                                 // (N, C)
            gradW = mm(g.t(), hc).to(weight.dtype);                                        // (V, C)
        }
        return KnownGradient.Apply(loss, (h, gradH), (weight, gradW)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The mean over kept targets as per-row weights: (N, 1) indexes with ignored targets replaced by 0, and (N, 1)
    /// weights 1/n where the target is kept and 0 where it is <paramref name="ignoreIndex"/> (all 0 when none is kept).
    /// </summary>
    private static (Tensor Index, Tensor Weight) MeanWeights(Tensor targets, long ignoreIndex)
    {
        var keep = targets.ne(ignoreIndex);                                                // (N) bool
        var index = targets.masked_fill(keep.logical_not(), 0).unsqueeze(1);               // (N, 1)
        var weight = (keep.to(ScalarType.Float32) / keep.sum().clamp_min(1)).unsqueeze(1); // (N, 1)
        return (index, weight);
    }

    /// <summary>
    /// Loss −Σ weight·log softmax(logits)[target] of <paramref name="logits"/> (n, V), contiguous, which it overwrites with
    /// their gradient weight·(softmax − one-hot) in their own dtype: the C# kernel for float32/bf16 on CPU, LibTorch ops otherwise.
    /// </summary>
    private static double LossAndGradientInPlace(Tensor logits, Tensor index, Tensor weight)
    {
        if (logits.device_type == DeviceType.CPU && logits.dtype is ScalarType.Float32 or ScalarType.BFloat16)
            return SoftmaxCrossEntropyKernel.LossAndGradientInPlace(logits, index.view(-1).contiguous(), weight.view(-1).contiguous());
        using var scope = NewDisposeScope();
        var logp = logits.to(ScalarType.Float32).log_softmax(-1);                         // (n, V)
        var loss = -(logp.gather(1, index) * weight).sum();
        logp.exp_();                                                                       // softmax, in place
        logp.scatter_add_(1, index, full([logp.shape[0], 1], -1f, ScalarType.Float32, logp.device));   // − one-hot
        logits.copy_(logp.mul_(weight));
        return loss.item<float>();
    }

    /// <summary>
    /// A scalar loss whose gradients were computed with its value, outside autograd: its backward hands each input its
    /// gradient (times the incoming scale), without the extra (N, V) passes a surrogate Σ input·gradient would cost.
    /// </summary>
    private sealed class KnownGradient : autograd.SingleTensorFunction<KnownGradient>
    {
        public override string Name => nameof(KnownGradient);

        /// <summary>The float32 scalar <paramref name="value"/>, with d value / d input = gradient for each pair.</summary>
        public static Tensor Apply(double value, params (Tensor Input, Tensor Gradient)[] pairs)
        {
            var vars = new List<object> { value };
            foreach (var (input, gradient) in pairs) { vars.Add(input); vars.Add(gradient); }
            return apply([.. vars]);
        }

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var gradients = new List<Tensor>();
            for (int i = 2; i < vars.Length; i += 2) gradients.Add((Tensor)vars[i]);
            ctx.save_for_backward(gradients);
            return tensor((float)(double)vars[0]);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var gradients = ctx.get_saved_variables();
            float scale = gradOutput.item<float>();
            var result = new List<Tensor> { null! };                                       // for the value
            foreach (var g in gradients)
            {
                result.Add(scale == 1f ? g : g * scale);                                   // for the input
                result.Add(null!);                                                         // for its gradient
            }
            return result;
        }
    }
}
