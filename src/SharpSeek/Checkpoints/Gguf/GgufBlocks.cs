using System.Buffers.Binary;

namespace SharpSeek.Checkpoints.Gguf;

/// <summary>
/// ggml's tensor encodings as small pure functions (ggml-quants.c <c>quantize_row_q8_0_ref</c>, <c>quantize_row_q4_0_ref</c>):
/// little-endian f32 / f16, and blocks of 32 values with an fp16 scale.
/// </summary>
public static class GgufBlocks
{
    /// <summary>Bytes of one q8_0 block: fp16 d + 32 × int8.</summary>
    public const int Q8_0BlockBytes = 2 + GgufTypes.QuantBlock;
    /// <summary>Bytes of one q4_0 block: fp16 d + 16 bytes of nibbles.</summary>
    public const int Q4_0BlockBytes = 2 + GgufTypes.QuantBlock / 2;

    /// <summary>
    /// q8_0: d = amax/127, q_i = round(x_i / d) (half away from zero), stored as fp16 d then 32 signed bytes. An all-zero
    /// block has d = 0 and q = 0.
    /// </summary>
    public static void EncodeQ8_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        Check(x, block, Q8_0BlockBytes);
        float amax = 0;
        foreach (var v in x) amax = Math.Max(amax, Math.Abs(v));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        for (int i = 0; i < GgufTypes.QuantBlock; i++)
            block[2 + i] = unchecked((byte)(sbyte)MathF.Round(x[i] * id, MidpointRounding.AwayFromZero));
    }

    /// <summary>
    /// q4_0: m = the value of largest magnitude (its sign kept), d = m/−8, q_i = min(15, ⌊x_i/d + 8.5⌋) ∈ [0, 15]; byte j holds
    /// element j in its low nibble and element j+16 in its high nibble.
    /// </summary>
    public static void EncodeQ4_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        Check(x, block, Q4_0BlockBytes);
        float amax = 0, max = 0;
        foreach (var v in x)
            if (Math.Abs(v) > amax) { amax = Math.Abs(v); max = v; }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        const int half = GgufTypes.QuantBlock / 2;
        for (int j = 0; j < half; j++)
        {
            int lo = Math.Min(15, (int)(sbyte)(x[j] * id + 8.5f));
            int hi = Math.Min(15, (int)(sbyte)(x[half + j] * id + 8.5f));
            block[2 + j] = (byte)(lo | (hi << 4));
        }
    }

    /// <summary>Encodes <paramref name="values"/> (whole rows, row-major) as <paramref name="type"/> into <paramref name="output"/>.</summary>
    public static void Encode(GgufType type, ReadOnlySpan<float> values, Span<byte> output)
    {
        if (output.Length != GgufTypes.ByteCount(type, values.Length))
            throw new ArgumentException($"{values.Length} values as {type} take {GgufTypes.ByteCount(type, values.Length)} bytes, not {output.Length}");
        switch (type)
        {
            case GgufType.F32:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(output[(4 * i)..], values[i]);
                break;
            case GgufType.F16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(output[(2 * i)..], (Half)values[i]);
                break;
            case GgufType.Q8_0:
            case GgufType.Q4_0:
                if (values.Length % GgufTypes.QuantBlock != 0) throw new ArgumentException($"{values.Length} values are not whole blocks of {GgufTypes.QuantBlock}");
                int bytes = type == GgufType.Q8_0 ? Q8_0BlockBytes : Q4_0BlockBytes;
                for (int b = 0; b < values.Length / GgufTypes.QuantBlock; b++)
                {
                    var x = values.Slice(b * GgufTypes.QuantBlock, GgufTypes.QuantBlock);
                    var y = output.Slice(b * bytes, bytes);
                    if (type == GgufType.Q8_0) EncodeQ8_0(x, y); else EncodeQ4_0(x, y);
                }
                break;
            default: throw new ArgumentOutOfRangeException(nameof(type));
        }
    }

    /// <summary>Inverse of the block encoders (x_i = d·q_i, resp. d·(q_i − 8)); used to measure quantization error.</summary>
    public static void Decode(GgufType type, ReadOnlySpan<byte> input, Span<float> values)
    {
        if (input.Length != GgufTypes.ByteCount(type, values.Length)) throw new ArgumentException("size mismatch");
        switch (type)
        {
            case GgufType.F32:
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(input[(4 * i)..]);
                break;
            case GgufType.F16:
                for (int i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(input[(2 * i)..]);
                break;
            case GgufType.Q8_0:
                for (int b = 0; b < values.Length / GgufTypes.QuantBlock; b++)
                {
                    var y = input.Slice(b * Q8_0BlockBytes, Q8_0BlockBytes);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(y);
                    for (int i = 0; i < GgufTypes.QuantBlock; i++) values[b * GgufTypes.QuantBlock + i] = d * (sbyte)y[2 + i];
                }
                break;
            case GgufType.Q4_0:
                for (int b = 0; b < values.Length / GgufTypes.QuantBlock; b++)
                {
                    var y = input.Slice(b * Q4_0BlockBytes, Q4_0BlockBytes);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(y);
                    for (int j = 0; j < GgufTypes.QuantBlock / 2; j++)
                    {
                        values[b * GgufTypes.QuantBlock + j] = d * ((y[2 + j] & 0x0F) - 8);
                        values[b * GgufTypes.QuantBlock + 16 + j] = d * ((y[2 + j] >> 4) - 8);
                    }
                }
                break;
            default: throw new ArgumentOutOfRangeException(nameof(type));
        }
    }

    private static void Check(ReadOnlySpan<float> x, Span<byte> block, int bytes)
    {
        if (x.Length != GgufTypes.QuantBlock) throw new ArgumentException($"a block holds {GgufTypes.QuantBlock} values, got {x.Length}");
        if (block.Length != bytes) throw new ArgumentException($"a block takes {bytes} bytes, got {block.Length}");
    }
}
