using static TorchSharp.torch;

namespace SharpSeek.Training.Common;

/// <summary>
/// A model with matmuls outside <c>nn.Linear</c> modules (e.g. GPT-2's output head tied to the embedding) that can run them
/// in a lower-precision dtype; <see cref="Bf16Compute"/> switches it along with the Linear layers (mixed precision, Micikevicius et al. 2018).
/// </summary>
public interface IComputeDTypeModel
{
    /// <summary>Dtype for those matmuls (inputs and weights cast, result returned in the input's dtype); Float32 = off.</summary>
    void SetComputeDType(ScalarType dtype);
}
