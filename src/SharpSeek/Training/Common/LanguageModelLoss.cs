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
        bool withGrad = logits.requires_grad && is_grad_enabled();
        Tensor loss, grad;
        using (no_grad())
        {
            var (index, weight) = MeanWeights(targets, ignoreIndex);                       // (N, 1), (N, 1)
            grad = logits.detach().to(ScalarType.Float32).log_softmax(-1);                 // (N, V) float32 log-probabilities
            loss = LossAndGradient(grad, index, weight, withGrad);
            if (!withGrad) return loss.MoveToOuterDisposeScope();
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
            var (index, rowWeight) = MeanWeights(targets, ignoreIndex);                    // (N, 1), (N, 1)
            var g = empty([n, v], computeType);                                            // (N, V)
            loss = zeros([], ScalarType.Float32);
            for (long start = 0; start < n; start += chunkRows)
            {
                using var chunk = NewDisposeScope();
                long len = Math.Min(chunkRows, n - start);
                var logp = mm(hc.narrow(0, start, len), wc.t()).to(ScalarType.Float32).log_softmax(-1);   // (len, V)
                loss.add_(LossAndGradient(logp, index.narrow(0, start, len), rowWeight.narrow(0, start, len), withGradient: true));
                g.narrow(0, start, len).copy_(logp);
            }
            gradH = mm(g, wc).to(h.dtype);                                                 // (N, C)
            gradW = mm(g.t(), hc).to(weight.dtype);                                        // (V, C)
        }
        var surrogate = (h * gradH).sum() + (weight * gradW).sum();                        // d/dh = gradH, d/dW = gradW
        return (surrogate - surrogate.detach() + loss).MoveToOuterDisposeScope();
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
    /// Loss share −Σ weight·log p(target) of float32 log-probabilities <paramref name="logp"/> (n, V); with
    /// <paramref name="withGradient"/>, also turns <paramref name="logp"/> in place into its gradient weight·(softmax − one-hot).
    /// </summary>
    private static Tensor LossAndGradient(Tensor logp, Tensor index, Tensor weight, bool withGradient)
    {
        var loss = -(logp.gather(1, index) * weight).sum();
        if (withGradient)
        {
            logp.exp_();                                                                   // softmax, in place
            logp.scatter_add_(1, index, full([logp.shape[0], 1], -1f, ScalarType.Float32)); // − one-hot
            logp.mul_(weight);
        }
        return loss;
    }
}
