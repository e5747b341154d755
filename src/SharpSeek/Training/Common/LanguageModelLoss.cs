using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Common;

/// <summary>The training objective: the model's own (<see cref="ITrainableLM"/>) or mean next-token cross-entropy on its logits.</summary>
public static class LanguageModelLoss
{
    /// <summary>Scalar float32 loss of predicting <paramref name="targets"/> (B, T) from <paramref name="inputIds"/> (B, T).</summary>
    public static Tensor Compute(nn.Module model, Tensor inputIds, Tensor targets)
    {
        if (model is ITrainableLM trainable) return trainable.ComputeLoss(inputIds, targets);
        return NextTokenCrossEntropy(model, inputIds, targets);
    }

    /// <summary>
    /// Mean cross-entropy of the main output head alone (what validation loss and perplexity report): no multi-token
    /// prediction terms, no balance loss.
    /// </summary>
    public static Tensor NextTokenCrossEntropy(nn.Module model, Tensor inputIds, Tensor targets)
    {
        if (model is not ICausalLM lm) throw new ArgumentException($"{model.GetType().Name} implements neither ICausalLM nor ITrainableLM", nameof(model));
        using var scope = NewDisposeScope();
        var logits = lm.Forward(inputIds);                                                 // (B, T, V)
        return CrossEntropy(logits.view(-1, logits.shape[^1]), targets.view(-1)).MoveToOuterDisposeScope();   // (B·T, V)
    }

    /// <summary>Target id that <see cref="CrossEntropy"/> skips (PyTorch's and Hugging Face's convention): prompt tokens in SFT, padding.</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// Mean cross-entropy of <paramref name="logits"/> (N, V), any float dtype, against <paramref name="targets"/> (N), computed
    /// in float32; targets equal to <paramref name="ignoreIndex"/> are skipped and the mean is over the rest (0 when none
    /// is left, where PyTorch would give NaN). With autograd on, the gradient (softmax − one-hot) / n is formed directly in
    /// one (N, V) buffer and attached through the surrogate Σ logits·g (value = the loss, d/dlogits = g) instead of
    /// autograd's log-softmax + NLL backward: for a 50k vocabulary that backward was the largest single cost of a bf16 CPU
    /// training step. g has the logits' dtype.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, long ignoreIndex = IgnoreIndex)
    {
        using var scope = NewDisposeScope();
        long n = logits.shape[0];
        Tensor loss, grad;
        bool withGrad = logits.requires_grad && is_grad_enabled();
        using (no_grad())
        {
            var keep = targets.ne(ignoreIndex);                                            // (N) bool
            bool all = keep.all().item<bool>();
            var index = (all ? targets : targets.masked_fill(keep.logical_not(), 0)).unsqueeze(1);   // (N, 1)
            var count = all ? n : keep.sum().item<long>();
            var logp = logits.detach().to(ScalarType.Float32).log_softmax(-1);             // (N, V) float32
            var picked = logp.gather(1, index).squeeze(1);                                 // (N)
            loss = count == 0 ? zeros([], ScalarType.Float32) : -(all ? picked : picked.masked_fill(keep.logical_not(), 0)).sum() / count;
            if (!withGrad) return loss.MoveToOuterDisposeScope();
            grad = logp.exp_();                                                            // softmax, in place
            grad.scatter_add_(1, index, full([n, 1], -1f, ScalarType.Float32));            // − one-hot
            grad.div_(Math.Max(count, 1));
            if (!all) grad.mul_(keep.unsqueeze(1));                                        // ignored rows get no gradient
            grad = grad.to(logits.dtype);
        }
        var surrogate = (logits * grad).sum();                                              // d/dlogits = grad
        return (surrogate - surrogate.detach() + loss).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mean cross-entropy of the output head <c>h·Wᵀ</c> (h (N, C), W (V, C)) against <paramref name="targets"/> (N), with the
    /// matmuls in <paramref name="computeType"/> and softmax/loss in float32, without ever holding the (N, V) logits in
    /// float32: rows go through in chunks (256 rows measured best on config A), each chunk's gradient (softmax − one-hot)/n is kept
    /// in <paramref name="computeType"/>, and dh = G·W, dW = Gᵀ·h are two matmuls attached through the surrogate
    /// Σ h·dh + Σ W·dW (fused linear + cross-entropy, as in Liger-Kernel; Hsu et al. 2024). Same value and gradients as
    /// <see cref="CrossEntropy"/> on <c>linear(h, W)</c> up to the compute type's rounding.
    /// </summary>
    public static Tensor LinearCrossEntropy(Tensor h, Tensor weight, Tensor targets, ScalarType computeType,
        long ignoreIndex = IgnoreIndex, int chunkRows = 256)
    {
        if (chunkRows <= 0) throw new ArgumentOutOfRangeException(nameof(chunkRows), chunkRows, "must be positive");
        using var scope = NewDisposeScope();
        long n = h.shape[0], v = weight.shape[0];
        Tensor loss, gradH, gradW;
        using (no_grad())
        {
            var hc = h.detach().to(computeType);                                           // (N, C)
            var wc = weight.detach().to(computeType);                                      // (V, C)
            var keep = targets.ne(ignoreIndex);                                            // (N) bool
            var safe = targets.masked_fill(keep.logical_not(), 0);                         // (N)
            long count = keep.sum().item<long>();
            var scale = keep.to(ScalarType.Float32) / Math.Max(count, 1);                  // (N) 1/n, 0 where ignored
            var g = empty([n, v], computeType);                                            // (N, V)
            var lossSum = zeros([], ScalarType.Float32);
            for (long start = 0; start < n; start += chunkRows)
            {
                using var chunk = NewDisposeScope();
                long len = Math.Min(chunkRows, n - start);
                var index = safe.narrow(0, start, len).unsqueeze(1);                       // (len, 1)
                var rowScale = scale.narrow(0, start, len).unsqueeze(1);                   // (len, 1)
                var logp = mm(hc.narrow(0, start, len), wc.t()).to(ScalarType.Float32).log_softmax(-1);   // (len, V)
                lossSum.sub_((logp.gather(1, index) * rowScale).sum());
                var grad = logp.exp_();                                                    // softmax, in place
                grad.scatter_add_(1, index, full([len, 1], -1f, ScalarType.Float32));      // − one-hot
                g.narrow(0, start, len).copy_(grad.mul_(rowScale));
            }
            loss = lossSum;
            gradH = mm(g, wc).to(h.dtype);                                                 // (N, C)
            gradW = mm(g.t(), hc).to(weight.dtype);                                        // (V, C)
        }
        var surrogate = (h * gradH).sum() + (weight * gradW).sum();                        // d/dh = gradH, d/dW = gradW
        return (surrogate - surrogate.detach() + loss).MoveToOuterDisposeScope();
    }
}
