using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// A <see cref="Linear"/> layer computed in a lower-precision dtype (mixed precision, Micikevicius et al. 2018): input,
/// weight and bias cast to the compute dtype, result left in it; autograd casts the gradients back to the float32 master weights.
/// </summary>
public static class MixedLinear
{
    /// <summary>linear(x, W, b) with all three in <paramref name="dtype"/>; (…, in) → (…, out) in <paramref name="dtype"/>.</summary>
    public static Tensor Apply(Linear layer, Tensor x, ScalarType dtype) =>
        nn.functional.linear(x.to(dtype), layer.weight!.to(dtype), layer.bias?.to(dtype));
}
