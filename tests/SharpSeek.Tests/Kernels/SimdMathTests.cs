using System.Runtime.Intrinsics;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Tests.Kernels;

/// <summary>
/// SimdMath's exp and bf16 conversions, each through its Vector512, Vector256 and scalar form. A vector form this machine
/// cannot run (no AVX-512, or DOTNET_EnableAVX512=0) is skipped (<see cref="OnSimdPathAttribute"/>).
/// </summary>
public unsafe class SimdMathTests
{
    /// <summary>exp of every element through one form; lengths that are multiples of 16 never reach the scalar tail.</summary>
    private static float[] Exp(float[] y, SimdPath width)
    {
        var e = new float[y.Length];
        fixed (float* py = y, pe = e)
        {
            int i = 0;
            if (width == SimdPath.Vector512) for (; i + 16 <= y.Length; i += 16) SimdMath.ExpOfNonPositive(Vector512.Load(py + i)).Store(pe + i);
            if (width == SimdPath.Vector256) for (; i + 8 <= y.Length; i += 8) SimdMath.ExpOfNonPositive(Vector256.Load(py + i)).Store(pe + i);
            for (; i < y.Length; i++) pe[i] = SimdMath.ExpOfNonPositive(py[i]);
        }
        return e;
    }

    private static float[] FromBf16(ushort[] b, SimdPath width)
    {
        var f = new float[b.Length];
        fixed (ushort* pb = b) fixed (float* pf = f)
        {
            int i = 0;
            if (width == SimdPath.Vector512) for (; i + 16 <= b.Length; i += 16) SimdMath.LoadBf16x16(pb + i).Store(pf + i);
            if (width == SimdPath.Vector256) for (; i + 8 <= b.Length; i += 8) SimdMath.LoadBf16x8(pb + i).Store(pf + i);
            for (; i < b.Length; i++) pf[i] = SimdMath.FromBf16(pb[i]);
        }
        return f;
    }

    private static ushort[] ToBf16(float[] f, SimdPath width)
    {
        var b = new ushort[f.Length];
        fixed (float* pf = f) fixed (ushort* pb = b)
        {
            int i = 0;
            if (width == SimdPath.Vector512) for (; i + 16 <= f.Length; i += 16) SimdMath.StoreBf16(Vector512.Load(pf + i), pb + i);
            if (width == SimdPath.Vector256) for (; i + 8 <= f.Length; i += 8) SimdMath.StoreBf16(Vector256.Load(pf + i), pb + i);
            for (; i < f.Length; i++) pb[i] = SimdMath.ToBf16(pf[i]);
        }
        return b;
    }

    /// <summary>Every 241st float in [−104, 0] and the edges, padded to a multiple of 16 (no scalar tail).</summary>
    private static List<float> Sweep()
    {
        var y = new List<float> { 0f, -0f, -1e-30f, -float.Epsilon, -1e-7f, -87.3f, -87.33655f, -88f, -100f, -103.97f, -104f };
        for (uint bits = 0x80000000u; bits <= BitConverter.SingleToUInt32Bits(-104f); bits += 241) y.Add(BitConverter.UInt32BitsToSingle(bits));
        while (y.Count % 16 != 0) y.Add(-1f);
        return y;
    }

    /// <summary>|actual − exact| in units of float32's spacing at exact (2^−149 for subnormal results).</summary>
    private static double Ulps(float actual, double exact) =>
        Math.Abs(actual - exact) / (exact < Math.Pow(2, -126) ? Math.Pow(2, -149) : Math.Pow(2, Math.ILogB(exact) - 23));

    [Theory]
    [OnSimdPath(SimdPath.Vector512, 1.0)]
    [OnSimdPath(SimdPath.Vector256, 1.16)]
    [OnSimdPath(SimdPath.Scalar, 1.0)]
    public void ExpOfNonPositive_SweepOfFloatsDownToMinus104_WithinDocumentedUlps(SimdPath width, double maxUlps)
    {
        var y = Sweep();
        var e = Exp([.. y], width);
        double worst = 0;
        float worstAt = 0;
        for (int i = 0; i < y.Count; i++)
        {
            double u = Ulps(e[i], Math.Exp(y[i]));
            if (u > worst) (worst, worstAt) = (u, y[i]);
        }
        Assert.True(worst <= maxUlps, $"exp({worstAt:R}) is {worst:F3} ulp off");
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void ExpOfNonPositive_ZeroAndTinyArguments_ExactlyOne(SimdPath width)
    {
        float[] y = [0f, -0f, -1e-30f, -float.Epsilon, -1e-9f, -1e-8f, 0f, -0f, 0f, -0f, 0f, -0f, 0f, -0f, 0f, -0f];
        Assert.All(Exp(y, width), e => Assert.Equal(1f, e));
    }

    /// <summary>Below 2^−126 (y &lt; −87.34) results are subnormal, as MathF.Exp's, not flushed; below 2^−150 they are 0.</summary>
    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void ExpOfNonPositive_BelowSmallestNormal_UnderflowsGraduallyToZero(SimdPath width)
    {
        float[] subnormal = [-87.34f, -87.5f, -88f, -90f, -95f, -100f, -103f, -103.2f];
        float[] zero = [-104f, -105f, -120f, -1e4f, -1e30f, -float.MaxValue, -104.5f, -110f];
        var e = Exp([.. subnormal, .. zero], width);
        Assert.All(e.Take(8), v => Assert.True(v > 0 && v < 1.17549435e-38f, $"{v:R} is not subnormal"));
        Assert.All(e.Skip(8), v => Assert.Equal(0f, v));
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void ExpOfNonPositive_NegativeInfinityAndNaN_GiveZeroAndNaN(SimdPath width)
    {
        float[] y = [float.NegativeInfinity, float.NaN, float.NegativeInfinity, -float.NaN, float.NegativeInfinity, float.NaN, float.NegativeInfinity, float.NaN,
            float.NegativeInfinity, float.NaN, float.NegativeInfinity, float.NaN, float.NegativeInfinity, float.NaN, float.NegativeInfinity, float.NaN];
        var e = Exp(y, width);
        for (int i = 0; i < y.Length; i++)
            if (float.IsNaN(y[i])) Assert.True(float.IsNaN(e[i]), $"exp(NaN) = {e[i]:R}");
            else Assert.Equal(0f, e[i]);
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void Bf16_EveryBf16Value_RoundTripsBitForBit(SimdPath width)
    {
        var bits = Enumerable.Range(0, 1 << 16).Select(b => (ushort)b).ToArray();
        var back = ToBf16(FromBf16(bits, width), width);
        for (int b = 0; b < bits.Length; b++) Assert.True(back[b] == b, $"0x{b:X4} came back as 0x{back[b]:X4}");   // NaNs too
    }

    /// <summary>Exact ties (low half 0x8000) go to the even neighbour; 0x7FFF and 0x8001 go down and up; LibTorch (c10) is the reference.</summary>
    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void ToBf16_TiesNeighboursAndRandomFloats_RoundToNearestEvenAsLibTorch(SimdPath width)
    {
        var rng = new Random(11);
        var f = new List<float> { 1.00390625f, 1.01171875f, -1.00390625f, float.MaxValue, -float.MaxValue, float.Epsilon, 0f, -0f,
            float.PositiveInfinity, float.NegativeInfinity, BitConverter.UInt32BitsToSingle(0x00008000), BitConverter.UInt32BitsToSingle(0x00018000) };
        for (int i = 0; i < 20_000; i++)
        {
            uint high = (uint)rng.Next(0, 1 << 16) << 16;
            if ((high & 0x7F800000) == 0x7F800000) continue;                     // inf/NaN halves: c10 turns NaN into 0x7FC0
            foreach (uint low in new uint[] { 0x8000, 0x7FFF, 0x8001, (uint)rng.Next(0, 1 << 16) })
                f.Add(BitConverter.UInt32BitsToSingle(high | low));
        }
        while (f.Count % 16 != 0) f.Add(1f);
        var actual = FromBf16(ToBf16([.. f], width), SimdPath.Scalar);
        using var reference = torch.tensor(f.ToArray()).to(ScalarType.BFloat16).to(ScalarType.Float32);
        var expected = reference.data<float>().ToArray();
        for (int i = 0; i < f.Count; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(actual[i]) == BitConverter.SingleToUInt32Bits(expected[i]),
                $"0x{BitConverter.SingleToUInt32Bits(f[i]):X8} → {actual[i]:R}, LibTorch {expected[i]:R}");
    }

    /// <summary>
    /// Against the scalar form (MathF.Exp, ≤ 0.5 ulp from exact here): a vector form ≤ 1.16 ulp from exact is < 1.7 ulp
    /// from it, and two floats are a whole number of ulps apart (spacing constant within a binade, 2^−149 below 2^−126),
    /// so ≤ 1 ulp: the bit patterns differ by at most 1.
    /// </summary>
    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void ExpOfNonPositive_SweepOfFloatsDownToMinus104_WithinOneUlpOfScalarForm(SimdPath width)
    {
        var y = Sweep();
        var e = Exp([.. y], width);
        var reference = Exp([.. y], SimdPath.Scalar);
        for (int i = 0; i < y.Count; i++)
        {
            long apart = Math.Abs((long)BitConverter.SingleToUInt32Bits(e[i]) - BitConverter.SingleToUInt32Bits(reference[i]));
            Assert.True(apart <= 1, $"exp({y[i]:R}): {e[i]:R} is {apart} ulp from the scalar form's {reference[i]:R}");
        }
    }

    /// <summary>
    /// The vector narrowings round exactly as the scalar form (bits + 0x7FFF + lowest kept bit, top half kept), for any
    /// float32 bits, NaNs and infinities included; widening is exact on every form.
    /// </summary>
    [Theory]
    [OnSimdPath(SimdPath.Vector512)]
    [OnSimdPath(SimdPath.Vector256)]
    [OnSimdPath(SimdPath.Scalar)]
    public void StoreBf16_AnyFloat32Bits_BitIdenticalToScalarForm(SimdPath width)
    {
        var rng = new Random(12);
        var f = new float[1 << 20];
        for (int i = 0; i < f.Length; i++) f[i] = BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32));
        f[0] = float.NaN; f[1] = float.PositiveInfinity; f[2] = float.NegativeInfinity; f[3] = BitConverter.UInt32BitsToSingle(0x7F7FFFFF);
        var bits = ToBf16(f, width);
        var reference = ToBf16(f, SimdPath.Scalar);
        for (int i = 0; i < f.Length; i++)
            Assert.True(bits[i] == reference[i], $"0x{BitConverter.SingleToUInt32Bits(f[i]):X8} → 0x{bits[i]:X4}, scalar 0x{reference[i]:X4}");
        var widened = FromBf16(bits, width);
        for (int i = 0; i < f.Length; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(widened[i]) == (uint)bits[i] << 16, $"0x{bits[i]:X4} widened to {widened[i]:R}");
    }
}
