using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Quantization;

/// <summary>
/// A weight-only quantized (out, in) matrix, the substitute for a <see cref="Models.Common.Projection"/>'s float32 weight.
/// <list type="bullet">
/// <item>int8: symmetric, one scale per output channel (LLM.int8 without outliers, Dettmers et al. 2022):
/// w[r, c] = scale[r] · q[r, c], q ∈ [−127, 127]; <see cref="Data"/> int8 (out, in), <see cref="Scales"/> (out, 1).</item>
/// <item>int4: groups of <see cref="GroupSize"/> columns (32, 64 or 128) with one scale each (GPTQ/AWQ layout, Frantar et al.
/// 2022): w = scale · (u − zero), u ∈ [0, 15]; zero = 8 when symmetric (ggml's q4_0: scale = m / −8 for the value m of
/// largest magnitude), else a per-group <see cref="Zeros"/> in [0, 15] (scale = (max − min) / 15). <see cref="Data"/> is
/// uint8 (out, in / 2), packed by blocks of 32 columns as ggml does: byte k of a block holds column k in its low nibble and
/// column k + 16 in its high nibble. <see cref="Scales"/> (out, in / G), <see cref="Zeros"/> uint8 (out, in / G) or null.</item>
/// </list>
/// The tensors are CPU, contiguous and owned by this object.
/// </summary>
public sealed class QuantizedWeight : IDisposable
{
    /// <summary>Columns per int4 packing block (the nibble order repeats every 32 columns).</summary>
    public const int PackBlock = 32;

    public int Rows { get; }
    public int Cols { get; }

    /// <summary>8 or 4.</summary>
    public int Bits { get; }

    /// <summary>Columns sharing a scale: <see cref="Cols"/> for int8 (per channel), 32, 64 or 128 for int4.</summary>
    public int GroupSize { get; }

    /// <summary>int8 (out, in) or uint8 (out, in / 2).</summary>
    public Tensor Data { get; }

    /// <summary>float32 (out, groups).</summary>
    public Tensor Scales { get; }

    /// <summary>uint8 (out, groups) zero points of asymmetric int4; null when symmetric (zero = 8) or int8.</summary>
    public Tensor? Zeros { get; }

    public int Groups => Cols / GroupSize;
    public bool HasZeroPoint => Zeros is not null;

    /// <summary>Bytes of the quantized storage (data, scales, zeros).</summary>
    public long StorageBytes => Data.NumberOfElements * Data.ElementSize + Scales.NumberOfElements * 4 + (Zeros?.NumberOfElements ?? 0);

    /// <summary>Wraps stored tensors after checking their dtypes and shapes against each other (a checkpoint's are user input).</summary>
    /// <exception cref="CheckpointException">A tensor is missing its partner, has the wrong dtype or shape.</exception>
    public QuantizedWeight(int bits, int groupSize, Tensor data, Tensor scales, Tensor? zeros, string name = "weight")
    {
        if (bits is not (8 or 4)) throw new CheckpointException($"{name}: bits must be 8 or 4, got {bits}");
        if (data.dim() != 2) throw new CheckpointException($"{name}: quantized data must be 2-D, got shape [{string.Join(", ", data.shape)}]");
        Rows = (int)data.shape[0];
        Cols = bits == 8 ? (int)data.shape[1] : (int)data.shape[1] * 2;
        var expectedData = bits == 8 ? ScalarType.Int8 : ScalarType.Byte;
        if (data.dtype != expectedData) throw new CheckpointException($"{name}: int{bits} data must be {expectedData}, got {data.dtype}");
        if (bits == 8 && groupSize != Cols) throw new CheckpointException($"{name}: int8 is per output channel (group size {Cols}), got {groupSize}");
        if (bits == 4) CheckGroupSize(groupSize, Cols, name);
        if (scales.dtype != ScalarType.Float32) throw new CheckpointException($"{name}: scales must be float32, got {scales.dtype}");
        int groups = Cols / groupSize;
        if (scales.dim() != 2 || scales.shape[0] != Rows || scales.shape[1] != groups)
            throw new CheckpointException($"{name}: scales have shape [{string.Join(", ", scales.shape)}], expected [{Rows}, {groups}]");
        if (zeros is not null)
        {
            if (bits == 8) throw new CheckpointException($"{name}: int8 is symmetric and takes no zero points");
            if (zeros.dtype != ScalarType.Byte || zeros.dim() != 2 || zeros.shape[0] != Rows || zeros.shape[1] != groups)
                throw new CheckpointException($"{name}: zero points must be uint8 [{Rows}, {groups}], got {zeros.dtype} [{string.Join(", ", zeros.shape)}]");
        }
        Bits = bits;
        GroupSize = groupSize;
        Data = Contiguous(data);
        Scales = Contiguous(scales);
        Zeros = zeros is null ? null : Contiguous(zeros);
    }

    // The object owns what it is given; a contiguous copy, when one is needed, must outlive the caller's dispose scope.
    private static Tensor Contiguous(Tensor t) => t.is_contiguous() ? t : t.contiguous().DetachFromDisposeScope();

    /// <summary>Throws unless <paramref name="groupSize"/> is 32, 64 or 128 and divides <paramref name="cols"/>.</summary>
    /// <exception cref="ConfigException">The group size is not supported or does not divide the input dimension.</exception>
    public static void CheckGroupSize(int groupSize, int cols, string name)
    {
        if (groupSize is not (32 or 64 or 128))
            throw new ConfigException($"{name}: int4 group size must be 32, 64 or 128, got {groupSize}");
        if (cols % groupSize != 0)
            throw new ConfigException($"{name}: input dimension {cols} is not divisible by the group size {groupSize}");
    }

    /// <summary>Quantizes a float (out, in) weight: int8 per channel (<paramref name="groupSize"/> ignored) or int4 by groups.</summary>
    public static QuantizedWeight Quantize(Tensor weight, int bits, int groupSize = 64, bool zeroPoint = false, string name = "weight")
    {
        if (weight.dim() != 2) throw new ConfigException($"{name}: only 2-D weights can be quantized");
        if (bits == 4) CheckGroupSize(groupSize, (int)weight.shape[1], name);
        else if (bits != 8) throw new ConfigException($"{name}: bits must be 8 or 4, got {bits}");
        var (data, scales, zeros) = QuantizeTensors(weight, bits, groupSize, zeroPoint);
        return new QuantizedWeight(bits, bits == 8 ? (int)weight.shape[1] : groupSize, data, scales, zeros, name);
    }

    // (data, scales, zeros) detached from every dispose scope, for the constructor to own.
    private static (Tensor Data, Tensor Scales, Tensor? Zeros) QuantizeTensors(Tensor weight, int bits, int groupSize, bool zeroPoint)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var w = weight.detach().to(ScalarType.Float32).cpu();                       // (out, in)
        long rows = w.shape[0], cols = w.shape[1];
        if (bits == 8)
        {
            var scale = w.abs().amax([1], keepdim: true) / 127.0;                    // (out, 1)
            scale = torch.where(scale == 0, torch.ones_like(scale), scale);
            var q = torch.round(w / scale).clamp(-127, 127).to(ScalarType.Int8);     // (out, in)
            return (q.contiguous().DetachFromDisposeScope(), scale.contiguous().DetachFromDisposeScope(), null);
        }
        long groups = cols / groupSize;
        var g = w.view(rows, groups, groupSize);                                     // (out, groups, G)
        Tensor u, scales, zeros = null!;
        if (zeroPoint)
        {
            var lo = g.amin([2], keepdim: true).clamp_max(0);                        // (out, groups, 1): the range includes 0
            var hi = g.amax([2], keepdim: true).clamp_min(0);
            var s = (hi - lo) / 15.0;
            s = torch.where(s == 0, torch.ones_like(s), s);
            var z = torch.round(-lo / s).clamp(0, 15);
            u = (torch.round(g / s) + z).clamp(0, 15);
            scales = s.squeeze(2);
            zeros = z.squeeze(2).to(ScalarType.Byte);
        }
        else
        {
            var idx = g.abs().argmax(2, keepdim: true);                              // (out, groups, 1)
            var m = g.gather(2, idx);                                                 // signed value of largest magnitude
            var s = m / -8.0;
            s = torch.where(s == 0, torch.ones_like(s), s);
            u = (torch.round(g / s).clamp(-8, 7) + 8);
            scales = s.squeeze(2);
        }
        var packed = Pack4(u.view(rows, cols).to(ScalarType.Byte));                  // (out, in / 2)
        return (packed.DetachFromDisposeScope(), scales.contiguous().DetachFromDisposeScope(),
            zeroPoint ? zeros.contiguous().DetachFromDisposeScope() : null);
    }

    /// <summary>Packs nibbles u (out, in) ∈ [0, 15] by blocks of 32 columns: byte k = u[k] | u[k + 16] &lt;&lt; 4.</summary>
    public static Tensor Pack4(Tensor u)
    {
        long rows = u.shape[0], cols = u.shape[1];
        var b = u.view(rows, cols / PackBlock, 2, PackBlock / 2);                    // (out, blocks, 2, 16)
        var low = b.select(2, 0);
        var high = b.select(2, 1);
        return low.bitwise_or(high.bitwise_left_shift(4)).reshape(rows, cols / 2).contiguous();
    }

    /// <summary>The nibbles u (out, in) ∈ [0, 15] of packed (out, in / 2) data.</summary>
    public static Tensor Unpack4(Tensor packed)
    {
        long rows = packed.shape[0], cols = packed.shape[1] * 2;
        var b = packed.view(rows, cols / PackBlock, PackBlock / 2);                  // (out, blocks, 16)
        var low = b.bitwise_and(15);
        var high = b.bitwise_right_shift(4);
        return torch.stack([low, high], 2).reshape(rows, cols);                      // (out, in)
    }

    /// <summary>The float32 (out, in) matrix this weight stands for.</summary>
    public Tensor Dequantize()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        if (Bits == 8) return (Data.to(ScalarType.Float32) * Scales).MoveToOuterDisposeScope();
        var u = Unpack4(Data).to(ScalarType.Float32).view(Rows, Groups, GroupSize);  // (out, groups, G)
        var z = Zeros is null ? torch.full([Rows, Groups, 1], 8f) : Zeros.to(ScalarType.Float32).unsqueeze(2);
        return ((u - z) * Scales.unsqueeze(2)).view(Rows, Cols).MoveToOuterDisposeScope();
    }

    private nint _dataAddress, _scalesAddress, _zerosAddress;

    /// <summary>
    /// Addresses of <see cref="Data"/>, <see cref="Scales"/> and <see cref="Zeros"/> (0 when null) for the C# kernels,
    /// taken once: the tensors are contiguous, owned and never reallocated while this object lives.
    /// </summary>
    internal unsafe (nint Data, nint Scales, nint Zeros) Addresses
    {
        get
        {
            if (_dataAddress == 0)
            {
                _scalesAddress = (nint)Kernels.TensorData.Pointer(Scales);
                _zerosAddress = Zeros is null ? 0 : (nint)Kernels.TensorData.Pointer(Zeros);
                Volatile.Write(ref _dataAddress, (nint)Kernels.TensorData.Pointer(Data));
            }
            return (_dataAddress, _scalesAddress, _zerosAddress);
        }
    }

    public void Dispose()
    {
        Data.Dispose();
        Scales.Dispose();
        Zeros?.Dispose();
    }
}
