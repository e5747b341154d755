using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SharpSeek.Kernels;

/// <summary>float32 SIMD maths for the C# kernels: exp of y ≤ 0 (table-driven, Tang 1989) and bf16 ↔ float32 (round to nearest even, as c10::BFloat16).</summary>
/// <remarks>
/// Each function comes in Vector512, Vector256 and scalar form. The Vector512 forms need <see cref="Avx512"/>; the
/// Vector256 forms need Vector256 acceleration (AVX2 on x64). The scalar forms are the reference the vector forms are
/// tested against; which form a kernel takes is <see cref="SimdPaths.Current"/>.
/// <para>
/// <b>exp(y), y ≤ 0.</b> Error against the exact value, measured over every float in [−104, 0]: ≤ 1.00 ulp (Vector512),
/// ≤ 1.16 ulp (Vector256), MathF.Exp's (scalar). exp(0) = exp(−0) = 1 exactly. Results underflow gradually as
/// MathF.Exp's do: below 2^−126 (y &lt; −87.34) they are subnormal, below 2^−150 (y &lt; −103.97) 0. −inf gives 0
/// (never NaN), NaN gives NaN.
/// </para>
/// <para>
/// <b>bf16.</b> A bf16 is the top half of a float32: widening is exact (bits &lt;&lt; 16); narrowing rounds to nearest,
/// ties to even, overflowing to ±inf. There is no NaN test: a NaN whose low 16 bits are 0 (every bf16 NaN, x86's default
/// NaN 0xFFC00000, and the NaNs x86 arithmetic propagates from those) stays a NaN (0xFFC0 where c10 writes 0x7FC0); a
/// float32 NaN with payload bits in its low half can come out as ±inf or −0.
/// </para>
/// </remarks>
public static unsafe class SimdMath
{
    /// <summary>True when the Vector512 forms can run: Vector512 is accelerated and AVX-512 BW (vpermw; implies F: vscalefps, vpermps) is there.</summary>
    public static bool Avx512 => Vector512.IsHardwareAccelerated && Avx512BW.IsSupported;

    // ---- exp(y), y ≤ 0. With n = round(N·y/ln2) = N·k + j (0 ≤ j < N) and f = y − n·ln2/N ∈ [−ln2/2N, ln2/2N],
    // exp(y) = 2^k · 2^(j/N) · e^f and e^f = 1 + f·(1 + c2·f + c3·f²), c2 and c3 a minimax (Remez) fit of e^f's relative
    // error on that interval: 1.6e−9 for N = 16, 2.6e−8 for N = 8. Vector512: N = 16, vpermps picks 2^(j/16) out of one
    // register and vscalefps multiplies by 2^⌊n/16⌋, rounding into subnormals. Vector256: N = 8 (AVX2's vpermps holds 8
    // floats) and 2^k is applied as two normal factors, so a subnormal result is rounded once.
    // Zen 4, one thread, exp + store + sum of 16k floats in L1, ns per float: Vector512 0.211 (SoftmaxCrossEntropyKernel's
    // former Cephes expf, degree-7 polynomial and 2^k from its bits: 0.295 at ≤ 1.26 ulp; GeluTanh's former degree-5 fit
    // with vscalefps: 0.202 at ≤ 2.18 ulp); Vector256 without AVX-512 0.317 (Cephes 0.360; degree-5 0.296, flushing
    // to 0 from −87.3 on, above float32's smallest normal). .NET 10's Vector512.Exp: ≤ 1.77 ulp, exp(0) = 1.0000001,
    // ~0.6 ns (it widens to double). ----

    /// <summary>1.5·2^23: t = x + Magic rounds x to an integer n (to nearest even), and t's bits are MagicBits + n (|n| &lt; 2^22).</summary>
    private const float Magic = 12582912f;
    private const int MagicBits = 0x4B400000;

    /// <summary>ln 2 = Ln2Hi + Ln2Lo (Cephes): Ln2Hi has 9 significant bits, so n/N·Ln2Hi is exact for |n| ≤ 2^15.</summary>
    private const float Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f;

    private const float Log2EOver16 = 23.0831203f, C2x16 = 0.500016153f, C3x16 = 0.166667178f;   // 16/ln2, e^f's fit for N = 16
    private const float Log2EOver8 = 11.5415602f, C2x8 = 0.500064492f, C3x8 = 0.166668579f;      // 8/ln2, for N = 8

    /// <summary>exp(<paramref name="y"/>) for y ≤ 0 (see the class remarks): ≤ 1.00 ulp, subnormal below 2^−126, −inf → 0, NaN → NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpOfNonPositive(Vector512<float> y)
    {
        var yc = Vector512.MaxNative(Vector512.Create(-104f), y);                   // e^−104 < 2^−150; −inf → −104; NaN stays (x86 max returns its 2nd operand)
        var t = Vector512.FusedMultiplyAdd(yc, Vector512.Create(Log2EOver16), Vector512.Create(Magic));
        var n16 = Vector512.FusedMultiplyAdd(t, Vector512.Create(1 / 16f), Vector512.Create(-Magic / 16));   // n/16, exact
        var f = Vector512.FusedMultiplyAdd(n16, Vector512.Create(-Ln2Hi), yc);
        f = Vector512.FusedMultiplyAdd(n16, Vector512.Create(-Ln2Lo), f);          // y − n·ln2/16
        var table = Vector512.Create(                                               // 2^(j/16), j = 0 … 15
            1.0f, 1.04427373f, 1.09050775f, 1.13878858f, 1.18920708f, 1.24185777f, 1.29683959f, 1.35425556f,
            1.41421354f, 1.47682619f, 1.54221082f, 1.61049032f, 1.68179286f, 1.75625217f, 1.83400810f, 1.91520655f);
        var tj = Avx512F.PermuteVar16x32(table, t.AsInt32());                       // vpermps reads the index's low 4 bits: n mod 16
        var q = Vector512.FusedMultiplyAdd(Vector512.Create(C3x16), f, Vector512.Create(C2x16));
        q = Vector512.FusedMultiplyAdd(q, f, Vector512<float>.One);                // (e^f − 1)/f
        var e = Vector512.FusedMultiplyAdd(tj * f, q, tj);                          // 2^(j/16)·e^f
        return Avx512F.Scale(e, n16);                                               // · 2^⌊n/16⌋
    }

    /// <summary>exp(<paramref name="y"/>) for y ≤ 0 (see the class remarks): ≤ 1.16 ulp, subnormal below 2^−126, −inf → 0, NaN → NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpOfNonPositive(Vector256<float> y)
    {
        var yc = Vector256.MaxNative(Vector256.Create(-104f), y);
        var t = Vector256.FusedMultiplyAdd(yc, Vector256.Create(Log2EOver8), Vector256.Create(Magic));
        var n8 = Vector256.FusedMultiplyAdd(t, Vector256.Create(1 / 8f), Vector256.Create(-Magic / 8));      // n/8, exact
        var f = Vector256.FusedMultiplyAdd(n8, Vector256.Create(-Ln2Hi), yc);
        f = Vector256.FusedMultiplyAdd(n8, Vector256.Create(-Ln2Lo), f);            // y − n·ln2/8
        var table = Vector256.Create(1.0f, 1.09050775f, 1.18920708f, 1.29683959f, 1.41421354f, 1.54221082f, 1.68179286f, 1.83400810f);
        var tj = Avx2.PermuteVar8x32(table, t.AsInt32());                           // 2^((n mod 8)/8)
        var q = Vector256.FusedMultiplyAdd(Vector256.Create(C3x8), f, Vector256.Create(C2x8));
        q = Vector256.FusedMultiplyAdd(q, f, Vector256<float>.One);
        var e = Vector256.FusedMultiplyAdd(tj * f, q, tj);
        var u = Vector256.ShiftRightArithmetic(t.AsInt32(), 3) - Vector256.Create((MagicBits >> 3) - 254);   // k + 254, k = ⌊n/8⌋ ∈ [−151, 0]
        var b1 = Vector256.ShiftRightArithmetic(u, 1);                              // ⌊k/2⌋ + 127
        var b2 = u - b1;                                                            // k − ⌊k/2⌋ + 127
        return e * Vector256.ShiftLeft(b1, 23).AsSingle() * Vector256.ShiftLeft(b2, 23).AsSingle();   // 2^k as two normal factors ≥ 2^−76
    }

    /// <summary>exp(<paramref name="y"/>) for y ≤ 0: MathF.Exp, for the scalar path and vector tails (same underflow, −inf and NaN behaviour); the reference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ExpOfNonPositive(float y) => MathF.Exp(y);

    // ---- bf16 ↔ float32. Zen 4, load + multiply + store of 16k bf16 in L1, ns per value: narrowing through vpermw 0.096,
    // through Vector512.Narrow 0.115; without AVX-512, Vector256.Narrow 0.138, Vector128.Narrow of the halves 0.150.
    // Widening: Avx512F.ConvertToVector512UInt32 and Vector512.WidenLower both compile to vpmovzxwd. ----

    /// <summary>16 bf16 values at <paramref name="p"/> as float32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadBf16x16(ushort* p) =>
        Vector512.ShiftLeft(Avx512F.ConvertToVector512UInt32(Vector256.Load(p)), 16).AsSingle();

    /// <summary>8 bf16 values at <paramref name="p"/> as float32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadBf16x8(ushort* p) =>
        Vector256.ShiftLeft(Vector256.WidenLower(Vector128.Load(p).ToVector256Unsafe()), 16).AsSingle();

    /// <summary>The bf16 value <paramref name="b"/> as float32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FromBf16(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>Stores <paramref name="v"/> as 16 bf16 values at <paramref name="p"/>, rounded to nearest even (vpermw picks the top halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBf16(Vector512<float> v, ushort* p)
    {
        var bits = v.AsUInt32();
        bits += Vector512.Create(0x7FFFu) + ((bits >> 16) & Vector512<uint>.One);
        var highHalves = Vector512.Create(
            (ushort)1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        Avx512BW.PermuteVar32x16(bits.AsUInt16(), highHalves).GetLower().Store(p);
    }

    /// <summary>Stores <paramref name="v"/> as 8 bf16 values at <paramref name="p"/>, rounded to nearest even.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBf16(Vector256<float> v, ushort* p)
    {
        var bits = v.AsUInt32();
        bits += Vector256.Create(0x7FFFu) + ((bits >> 16) & Vector256<uint>.One);
        Vector256.Narrow(bits >> 16, Vector256<uint>.Zero).GetLower().Store(p);
    }

    /// <summary><paramref name="f"/> as bf16 bits, rounded to nearest even.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }
}
