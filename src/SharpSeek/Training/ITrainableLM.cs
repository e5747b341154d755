using static TorchSharp.torch;

namespace SharpSeek.Training;

/// <summary>
/// A model that computes its own training loss (e.g. DeepSeek-V3: main + multi-token-prediction + balance loss,
/// DeepSeek-AI 2024 §2) and updates non-gradient state after each optimizer step (aux-loss-free routing biases).
/// Models without it are trained with cross-entropy on <c>ICausalLM.Forward</c> logits.
/// </summary>
public interface ITrainableLM
{
    /// <summary>Scalar float32 loss for next-token prediction of <paramref name="targets"/> (B, T) from <paramref name="inputIds"/> (B, T).</summary>
    Tensor ComputeLoss(Tensor inputIds, Tensor targets);

    /// <summary>Called once after every optimizer step (outside autograd).</summary>
    void AfterOptimizerStep();
}
