using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Quantization;

/// <summary>A weight a <see cref="QuantizationConfig"/> quantizes: its state-dict name (…​.weight), (out, in) shape, and the projection holding it (null for a token embedding).</summary>
public sealed record QuantizableWeight(string Name, int Rows, int Cols, Projection? Target);

/// <summary>
/// A model family whose weights <see cref="ModelQuantizer"/> can substitute: it names the weights a config quantizes
/// (projections, and the token embedding when included, which the family itself looks rows up in).
/// </summary>
public interface IQuantizableModel
{
    /// <summary>The weights <paramref name="config"/> quantizes, in model order.</summary>
    IReadOnlyList<QuantizableWeight> QuantizableWeights(QuantizationConfig config);

    /// <summary>The float (V, C) token embedding table named <paramref name="name"/>.</summary>
    Tensor EmbeddingTable(string name);

    /// <summary>Replaces the token embedding named <paramref name="name"/> by <paramref name="table"/> (owned from now on; the float table is released).</summary>
    void QuantizeEmbedding(string name, QuantizedWeight table);

    /// <summary>The quantized token embedding named <paramref name="name"/>, or null while it is float.</summary>
    QuantizedWeight? QuantizedEmbedding(string name);
}
