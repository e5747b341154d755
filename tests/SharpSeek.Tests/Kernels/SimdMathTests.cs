using System.Runtime.Intrinsics;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Tests.Kernels;

/// <summary>
/// SimdMath's exp and bf16 conversions, each through its Vector512, Vector256 and scalar form (width 512, 256, 1). A vector
/// form this machine cannot run (no AVX-512, or DOTNET_EnableAVX512=0) is not tested: that test returns at once.
/// </summary>
public unsafe class SimdMathTests
{
    private static bool Runs(int width) => width switch { 512 => SimdMath.Avx512, 256 => Vector256.IsHardwareAccelerated, _ => true };

    /// <summary>exp of every element through one form; lengths that are multiples of 16 never reach the scalar tail.</summary>
    private static float[] Exp(float[] y, int width)
    {
        var e = new float[y.Length];
        fixed (float* py = y, pe = e)
        {
            int i = 0;
            if (width == 512) for (; i + 16 <= y.Length; i += 16) SimdMath.ExpOfNonPositive(Vector512.Load(py + i)).Store(pe + i);
            if (width == 256) for (; i + 8 <= y.Length; i += 8) SimdMath.ExpOfNonPositive(Vector256.Load(py + i)).Store(pe + i);
            for (; i < y.Length; i++) pe[i] = SimdMath.ExpOfNonPositive(py[i]);
        }
        return e;
    }

    private static float[] FromBf16(ushort[] b, int width)
    {
        var f = new float[b.Length];
        fixed (ushort* pb = b) fixed (float* pf = f)
        {
            int i = 0;
            if (width == 512) for (; i + 16 <= b.Length; i += 16) SimdMath.LoadBf16x16(pb + i).Store(pf + i);
            if (width == 256) for (; i + 8 <= b.Length; i += 8) SimdMath.LoadBf16x8(pb + i).Store(pf + i);
            for (; i < b.Length; i++) pf[i] = SimdMath.FromBf16(pb[i]);
        }
        return f;
    }

    private static ushort[] ToBf16(float[] f, int width)
    {
        var b = new ushort[f.Length];
        fixed (float* pf = f) fixed (ushort* pb = b)
        {
            int i = 0;
            if (width == 512) for (; i + 16 <= f.Length; i += 16) SimdMath.StoreBf16(Vector512.Load(pf + i), pb + i);
            if (width == 256) for (; i + 8 <= f.Length; i += 8) SimdMath.StoreBf16(Vector256.Load(pf + i), pb + i);
            for (; i < f.Length; i++) pb[i] = SimdMath.ToBf16(pf[i]);
        }
        return b;
    }

    /// <summary>|actual − exact| in units of float32's spacing at exact (2^−149 for subnormal results).</summary>
    private static double Ulps(float actual, double exact) =>
        Math.Abs(actual - exact) / (exact < Math.Pow(2, -126) ? Math.Pow(2, -149) : Math.Pow(2, Math.ILogB(exact) - 23));

    [Theory]
    [InlineData(512, 1.0)]
    [InlineData(256, 1.16)]
    [InlineData(1, 1.0)]
    public void ExpOfNonPositive_SweepOfFloatsDownToMinus104_WithinDocumentedUlps(int width, double maxUlps)
    {
        if (!Runs(width)) return;
        var y = new List<float> { 0f, -0f, -1e-30f, -float.Epsilon, -1e-7f, -87.3f, -87.33655f, -88f, -100f, -103.97f, -104f };
        for (uint bits = 0x80000000u; bits <= BitConverter.SingleToUInt32Bits(-104f); bits += 241) y.Add(BitConverter.UInt32BitsToSingle(bits));
        while (y.Count % 16 != 0) y.Add(-1f);
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
    [InlineData(512)]
    [InlineData(256)]
    [InlineData(1)]
    public void ExpOfNonPositive_ZeroAndTinyArguments_ExactlyOne(int width)
    {
        if (!Runs(width)) return;
        float[] y = [0f, -0f, -1e-30f, -float.Epsilon, -1e-9f, -1e-8f, 0f, -0f, 0f, -0f, 0f, -0f, 0f, -0f, 0f, -0f];
        Assert.All(Exp(y, width), e => Assert.Equal(1f, e));
    }

    /// <summary>Below 2^−126 (y &lt; −87.34) results are subnormal, as MathF.Exp's, not flushed; below 2^−150 they are 0.</summary>
    [Theory]
    [InlineData(512)]
    [InlineData(256)]
    [InlineData(1)]
    public void ExpOfNonPositive_BelowSmallestNormal_UnderflowsGraduallyToZero(int width)
    {
        if (!Runs(width)) return;
        float[] subnormal = [-87.34f, -87.5f, -88f, -90f, -95f, -100f, -103f, -103.2f];
        float[] zero = [-104f, -105f, -120f, -1e4f, -1e30f, -float.MaxValue, -104.5f, -110f];
        var e = Exp([.. subnormal, .. zero], width);
        Assert.All(e.Take(8), v => Assert.True(v > 0 && v < 1.17549435e-38f, $"{v:R} is not subnormal"));
        Assert.All(e.Skip(8), v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(512)]
    [InlineData(256)]
    [InlineData(1)]
    public void ExpOfNonPositive_NegativeInfinityAndNaN_GiveZeroAndNaN(int width)
    {
        if (!Runs(width)) return;
        float[] y = [float.NegativeInfinity, float.NaN, float.NegativeInfinity, -float.NaN, float.NegativeInfinity, float.NaN, float.NegativeInfinity, float.NaN,
            float.NegativeInfinity, float.NaN, float.NegativeInfinity, float.NaN, float.NegativeInfinity, float.NaN, float.NegativeInfinity, float.NaN];
        var e = Exp(y, width);
        for (int i = 0; i < y.Length; i++)
            if (float.IsNaN(y[i])) Assert.True(float.IsNaN(e[i]), $"exp(NaN) = {e[i]:R}");
            else Assert.Equal(0f, e[i]);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(256)]
    [InlineData(1)]
    public void Bf16_EveryBf16Value_RoundTripsBitForBit(int width)
    {
        if (!Runs(width)) return;
        var bits = Enumerable.Range(0, 1 << 16).Select(b => (ushort)b).ToArray();
        var back = ToBf16(FromBf16(bits, width), width);
        for (int b = 0; b < bits.Length; b++) Assert.True(back[b] == b, $"0x{b:X4} came back as 0x{back[b]:X4}");   // NaNs too
    }

    /// <summary>Exact ties (low half 0x8000) go to the even neighbour; 0x7FFF and 0x8001 go down and up; LibTorch (c10) is the reference.</summary>
    [Theory]
    [InlineData(512)]
    [InlineData(256)]
    [InlineData(1)]
    public void ToBf16_TiesNeighboursAndRandomFloats_RoundToNearestEvenAsLibTorch(int width)
    {
        if (!Runs(width)) return;
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
        var actual = FromBf16(ToBf16([.. f], width), 1);
        using var reference = torch.tensor(f.ToArray()).to(ScalarType.BFloat16).to(ScalarType.Float32);
        var expected = reference.data<float>().ToArray();
        for (int i = 0; i < f.Count; i++)
            Assert.True(BitConverter.SingleToUInt32Bits(actual[i]) == BitConverter.SingleToUInt32Bits(expected[i]),
                $"0x{BitConverter.SingleToUInt32Bits(f[i]):X8} → {actual[i]:R}, LibTorch {expected[i]:R}");
    }
}
