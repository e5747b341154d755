using static TorchSharp.torch;

namespace SharpSeek.Training;

/// <summary>
/// A model that runs all its matmuls (its Linear layers and any others, e.g. GPT-2's output head tied to the embedding)
/// in a lower-precision dtype itself, keeping activations in it where it can; <see cref="Bf16Compute"/> switches it
/// instead of hooking its Linear layers (mixed precision, Micikevicius et al. 2018).
/// </summary>
public interface IComputeDTypeModel
{
    /// <summary>Dtype for the matmuls (inputs and weights cast; the model's outputs stay in the weights' dtype); Float32 = off.</summary>
    void SetComputeDType(ScalarType dtype);
}
