namespace SharpSeek.Checkpoints.Gguf;

/// <summary>Tensor data types an export can write (ggml's type ids in <see cref="GgufTypes.GgmlId"/>).</summary>
public enum GgufType
{
    /// <summary>32-bit floats.</summary>
    F32,
    /// <summary>IEEE half precision.</summary>
    F16,
    /// <summary>Blocks of 32: one fp16 scale d = amax/127 and 32 int8 values (34 bytes).</summary>
    Q8_0,
    /// <summary>Blocks of 32: one fp16 scale d = max/−8 and 32 4-bit values q+8 (18 bytes).</summary>
    Q4_0,
}

/// <summary>Sizes and ids of <see cref="GgufType"/> as ggml defines them (ggml.h <c>ggml_type</c>, ggml.c type traits).</summary>
public static class GgufTypes
{
    /// <summary>Elements per quantization block (1 for float types).</summary>
    public const int QuantBlock = 32;

    /// <summary>ggml's <c>ggml_type</c> value: F32 0, F16 1, Q4_0 2, Q8_0 8.</summary>
    public static uint GgmlId(GgufType t) => t switch { GgufType.F32 => 0, GgufType.F16 => 1, GgufType.Q4_0 => 2, GgufType.Q8_0 => 8, _ => throw new ArgumentOutOfRangeException(nameof(t)) };

    /// <summary>llama.cpp's <c>general.file_type</c> (<c>llama_ftype</c>): ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7.</summary>
    public static uint FileType(GgufType t) => t switch { GgufType.F32 => 0, GgufType.F16 => 1, GgufType.Q4_0 => 2, GgufType.Q8_0 => 7, _ => throw new ArgumentOutOfRangeException(nameof(t)) };

    /// <summary>True for the block-quantized types, whose rows must be a multiple of <see cref="QuantBlock"/> long.</summary>
    public static bool IsQuantized(GgufType t) => t is GgufType.Q8_0 or GgufType.Q4_0;

    /// <summary>Bytes of <paramref name="elements"/> values stored as <paramref name="t"/> (a multiple of 32 for quantized types).</summary>
    public static long ByteCount(GgufType t, long elements) => t switch
    {
        GgufType.F32 => 4 * elements,
        GgufType.F16 => 2 * elements,
        GgufType.Q8_0 => elements / QuantBlock * GgufBlocks.Q8_0BlockBytes,
        GgufType.Q4_0 => elements / QuantBlock * GgufBlocks.Q4_0BlockBytes,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>Parses the CLI spelling f32 | f16 | q8_0 | q4_0; throws <see cref="ConfigException"/> otherwise.</summary>
    public static GgufType Parse(string name) => name.ToLowerInvariant() switch
    {
        "f32" => GgufType.F32,
        "f16" => GgufType.F16,
        "q8_0" => GgufType.Q8_0,
        "q4_0" => GgufType.Q4_0,
        _ => throw new ConfigException($"GGUF type '{name}' is not supported (use f32, f16, q8_0 or q4_0)"),
    };

    /// <summary>The CLI spelling of <paramref name="t"/>.</summary>
    public static string Name(GgufType t) => t.ToString().ToLowerInvariant();
}
