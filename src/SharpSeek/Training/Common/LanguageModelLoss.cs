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
        var flat = logits.view(-1, logits.shape[^1]).to(ScalarType.Float32);               // (B·T, V)
        return nn.functional.cross_entropy(flat, targets.view(-1)).MoveToOuterDisposeScope();
    }
}
