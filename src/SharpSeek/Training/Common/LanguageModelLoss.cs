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

    /// <summary>
    /// Mean cross-entropy of <paramref name="logits"/> (N, V), any float dtype, against <paramref name="targets"/> (N), computed
    /// in float32. With autograd on, the gradient (softmax − one-hot) / N is formed directly in one (N, V) buffer and attached
    /// through the surrogate Σ logits·g (value = the loss, d/dlogits = g) instead of autograd's log-softmax + NLL backward:
    /// for a 50k vocabulary that backward was the largest single cost of a bf16 CPU training step. g has the logits' dtype.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets)
    {
        if (!logits.requires_grad || !is_grad_enabled()) return nn.functional.cross_entropy(logits.to(ScalarType.Float32), targets);
        using var scope = NewDisposeScope();
        long n = logits.shape[0];
        Tensor loss, grad;
        using (no_grad())
        {
            var index = targets.unsqueeze(1);                                              // (N, 1)
            var logp = logits.detach().to(ScalarType.Float32).log_softmax(-1);             // (N, V) float32
            loss = -logp.gather(1, index).mean();
            grad = logp.exp_();                                                            // softmax, in place
            grad.scatter_add_(1, index, full([n, 1], -1f, ScalarType.Float32));            // − one-hot
            grad.div_(n);
            grad = grad.to(logits.dtype);
        }
        var surrogate = (logits * grad).sum();                                              // d/dlogits = grad
        return (surrogate - surrogate.detach() + loss).MoveToOuterDisposeScope();
    }
}
