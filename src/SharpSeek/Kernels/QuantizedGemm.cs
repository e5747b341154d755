using SharpSeek.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>
/// y = x·Wᵀ + b for a weight-only quantized W (<see cref="QuantizedWeight"/>), float32 activations, CPU, no autograd.
/// The reference implementation: dequantize, then LibTorch's matmul.
/// </summary>
public static class QuantizedGemm
{
    /// <summary><paramref name="x"/> (…, in) float32 → (…, out) float32.</summary>
    public static Tensor Linear(Tensor x, QuantizedWeight weight, Tensor? bias = null)
    {
        if (x.shape[^1] != weight.Cols)
            throw new ArgumentException($"input has {x.shape[^1]} features, the quantized weight takes {weight.Cols}");
        using var w = weight.Dequantize();                                            // (out, in)
        return nn.functional.linear(x, w, bias);
    }
}
