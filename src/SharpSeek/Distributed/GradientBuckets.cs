using System.Numerics;

namespace SharpSeek.Distributed;

/// <summary>
/// Groups parameters into all-reduce buckets (PyTorch DDP's gradient bucketing, Li et al. 2020 §3.2.3): consecutive
/// parameters fill a bucket until it would exceed the cap; a parameter larger than the cap gets a bucket of its own.
/// </summary>
public static class GradientBuckets
{
    /// <summary>Default cap: 25 MiB (DDP's bucket_cap_mb = 25): 6.5 M fp32 or 13 M bf16 gradients.</summary>
    public const long DefaultCapBytes = 25L * 1024 * 1024;

    /// <summary>Largest element count of one MPI call (its count is a C int).</summary>
    public const long MaxCallElements = int.MaxValue;

    /// <summary>The index ranges [Start, End) of <paramref name="sizes"/> in each bucket, in order.</summary>
    public static IReadOnlyList<(int Start, int End)> Plan(IReadOnlyList<long> sizes, long capElements)
    {
        if (capElements <= 0) throw new ArgumentOutOfRangeException(nameof(capElements), "the bucket cap must be positive");
        var buckets = new List<(int, int)>();
        int start = 0;
        long filled = 0;
        for (int i = 0; i < sizes.Count; i++)
        {
            if (i > start && filled + sizes[i] > capElements)
            {
                buckets.Add((start, i));
                start = i; filled = 0;
            }
            filled += sizes[i];
        }
        if (start < sizes.Count) buckets.Add((start, sizes.Count));
        return buckets;
    }

    /// <summary>
    /// bf16 addition (bits in, bits out): both operands widened to fp32 exactly, added, and rounded to nearest even back to
    /// bf16 (c10::BFloat16's rounding; NaN → 0x7FC0). The fp32 sum of two bf16 numbers is exact unless their exponents are
    /// more than 16 apart, and then the smaller one is below half a bf16 unit of the larger, so this is the correctly rounded
    /// bf16 sum.
    /// </summary>
    public static ushort AddBf16(ushort a, ushort b) => ToBf16(Bf16ToSingle(a) + Bf16ToSingle(b));

    /// <summary><paramref name="x"/> rounded to the nearest bf16, ties to even; NaN → 0x7FC0.</summary>
    public static ushort ToBf16(float x)
    {
        if (float.IsNaN(x)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(x);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>The fp32 value of bf16 <paramref name="bits"/> (exact: bf16 is fp32's upper half).</summary>
    public static float Bf16ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>accumulator[i] = <see cref="AddBf16"/>(x[i], accumulator[i]) (the bf16 all-reduce's MPI_Op), SIMD where available.</summary>
    public static void SumBf16(ReadOnlySpan<ushort> x, Span<ushort> accumulator)
    {
        if (x.Length != accumulator.Length) throw new ArgumentException("the spans differ in length", nameof(accumulator));
        int i = 0;
        if (Vector.IsHardwareAccelerated)
            for (int w = Vector<ushort>.Count; i <= x.Length - w; i += w)
            {
                Vector.Widen(new Vector<ushort>(x[i..]), out var xLow, out var xHigh);
                Vector.Widen(new Vector<ushort>(accumulator[i..]), out var aLow, out var aHigh);
                var low = ToBf16(Vector.AsVectorSingle(xLow << 16) + Vector.AsVectorSingle(aLow << 16));
                var high = ToBf16(Vector.AsVectorSingle(xHigh << 16) + Vector.AsVectorSingle(aHigh << 16));
                Vector.Narrow(low, high).CopyTo(accumulator[i..]);
            }
        for (; i < x.Length; i++) accumulator[i] = AddBf16(x[i], accumulator[i]);
    }

    /// <summary><see cref="ToBf16(float)"/> lane-wise; the bf16 bits in each lane's low half.</summary>
    private static Vector<uint> ToBf16(Vector<float> x)
    {
        var bits = Vector.AsVectorUInt32(x);
        var rounded = (bits + new Vector<uint>(0x7FFF) + ((bits >> 16) & Vector<uint>.One)) >> 16;
        return Vector.ConditionalSelect(Vector.AsVectorUInt32(Vector.Equals(x, x)), rounded, new Vector<uint>(0x7FC0));   // x ≠ x: NaN
    }
}
