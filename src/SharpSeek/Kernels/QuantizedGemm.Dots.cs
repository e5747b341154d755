using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Kernels;

public static unsafe partial class QuantizedGemm
{
    /// <summary>
    /// The u8×s8 dot product of a kernel: each int32 lane gets the sum of 4 adjacent byte products. Struct type arguments,
    /// so the JIT compiles one loop per instruction set with no branch inside.
    /// </summary>
    private interface IDot
    {
        /// <summary>True for vpdpbusd (no 16-bit intermediate, so int8 weights go in as w + 128 and 128·Σq_x is taken out after).</summary>
        static abstract bool Vnni { get; }

        /// <summary>Σ u0·s0 + u1·s1 per 4 bytes; with vpmaddubsw each pair sum of both must fit int16 (int4: |15·127·4| ≤ 7620).</summary>
        static abstract Vector256<int> Dot2(Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1);

        static abstract Vector512<int> Dot2(Vector512<byte> u0, Vector512<sbyte> s0, Vector512<byte> u1, Vector512<sbyte> s1);

        /// <summary>Σ w·x per 4 bytes for int8 weights: exact (|w|·sign(x, w)) with vpmaddubsw, Σ (w + 128)·x with VNNI.</summary>
        static abstract Vector256<int> DotS8(Vector256<sbyte> w, Vector256<sbyte> x);

        static abstract Vector512<int> DotS8(Vector512<sbyte> w, Vector512<sbyte> x);
    }

    /// <summary>AVX2 / AVX-512 BW: vpmaddubsw (u8×s8 pairs → int16, saturating) then vpmaddwd by ones (pairs → int32).</summary>
    private readonly struct MaddDot : IDot
    {
        public static bool Vnni => false;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot2(Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1) =>
            Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u0, s0) + Avx2.MultiplyAddAdjacent(u1, s1), Vector256<short>.One);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot2(Vector512<byte> u0, Vector512<sbyte> s0, Vector512<byte> u1, Vector512<sbyte> s1) =>
            Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u0, s0) + Avx512BW.MultiplyAddAdjacent(u1, s1), Vector512<short>.One);

        // |w| ≤ 128 and |x| ≤ 127, so a pair sum ≤ 32512 fits int16 (ggml's mul_sum_i8_pairs).
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> DotS8(Vector256<sbyte> w, Vector256<sbyte> x) =>
            Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(w), Avx2.Sign(x, w)), Vector256<short>.One);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> DotS8(Vector512<sbyte> w, Vector512<sbyte> x)
        {
            var signed = Vector512.ConditionalSelect(Vector512.LessThan(w, Vector512<sbyte>.Zero), Vector512<sbyte>.Zero - x, x);
            return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(w), signed), Vector512<short>.One);
        }
    }

    /// <summary>AVX-VNNI vpdpbusd (u8×s8, 4 products summed into int32 without saturation); 512 bits as two 256-bit halves.</summary>
    private readonly struct VnniDot : IDot
    {
        public static bool Vnni => true;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Dot2(Vector256<byte> u0, Vector256<sbyte> s0, Vector256<byte> u1, Vector256<sbyte> s1) =>
            AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u0, s0), u1, s1);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> Dot2(Vector512<byte> u0, Vector512<sbyte> s0, Vector512<byte> u1, Vector512<sbyte> s1) =>
            Vector512.Create(Dot2(u0.GetLower(), s0.GetLower(), u1.GetLower(), s1.GetLower()),
                             Dot2(u0.GetUpper(), s0.GetUpper(), u1.GetUpper(), s1.GetUpper()));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> DotS8(Vector256<sbyte> w, Vector256<sbyte> x) =>
            AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, (w ^ Vector256.Create((sbyte)-128)).AsByte(), x);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> DotS8(Vector512<sbyte> w, Vector512<sbyte> x)
        {
            var u = (w ^ Vector512.Create((sbyte)-128)).AsByte();
            return Vector512.Create(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u.GetLower(), x.GetLower()),
                                    AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, u.GetUpper(), x.GetUpper()));
        }
    }

    /// <summary>
    /// An int4 group size: the weight scales of one 128-column super-block (blocks 4s … 4s + 3) spread over the int32
    /// lanes of its dot product, 4 lanes per block (Vector512), or of its half h (blocks 4s + 2h, 4s + 2h + 1; Vector256).
    /// </summary>
    private interface IGroup
    {
        static abstract Vector512<float> Scales512(float* ws, int s);

        static abstract Vector256<float> Scales256(float* ws, int s, int h);
    }

    private readonly struct Group32 : IGroup
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Scales512(float* ws, int s) =>
            Avx512F.PermuteVar16x32(Vector128.Load(ws + 4 * s).ToVector256Unsafe().ToVector512Unsafe(),
                Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Scales256(float* ws, int s, int h) =>
            Avx2.PermuteVar8x32(Vector128.CreateScalarUnsafe(*(double*)(ws + 4 * s + 2 * h)).AsSingle().ToVector256Unsafe(),
                Vector256.Create(0, 0, 0, 0, 1, 1, 1, 1));
    }

    private readonly struct Group64 : IGroup
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Scales512(float* ws, int s) =>
            Avx512F.PermuteVar16x32(Vector128.CreateScalarUnsafe(*(double*)(ws + 2 * s)).AsSingle().ToVector256Unsafe().ToVector512Unsafe(),
                Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Scales256(float* ws, int s, int h) => Vector256.Create(ws[2 * s + h]);
    }

    private readonly struct Group128 : IGroup
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Scales512(float* ws, int s) => Vector512.Create(ws[s]);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Scales256(float* ws, int s, int h) => Vector256.Create(ws[s]);
    }
}
