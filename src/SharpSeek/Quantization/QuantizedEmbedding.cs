using static TorchSharp.torch;

namespace SharpSeek.Quantization;

/// <summary>Token embedding lookup in a quantized (V, C) table: the looked-up rows are dequantized, nothing else.</summary>
public static class QuantizedEmbedding
{
    /// <summary>Rows of <paramref name="table"/> for <paramref name="ids"/> (…) as float32 (…, C).</summary>
    public static Tensor Lookup(QuantizedWeight table, Tensor ids)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var flat = ids.reshape(-1);                                                     // (N)
        var rows = new QuantizedWeight(table.Bits, table.GroupSize, table.Data.index_select(0, flat),
            table.Scales.index_select(0, flat), table.Zeros?.index_select(0, flat), "embedding rows");   // (N, C) quantized; the scope frees it
        return rows.Dequantize().view([.. ids.shape, table.Cols]).MoveToOuterDisposeScope();   // (…, C)
    }
}
