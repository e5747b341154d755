using System.Reflection;
using SharpSeek.Kernels;
using SharpSeek.Quantization;
using TorchSharp;
using Xunit.Sdk;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Kernels;

/// <summary>
/// The cases of <see cref="QuantizedGemmTests.Linear_EachPath_WithinActivationQuantizationBound"/> on one kernel path
/// (<paramref name="path"/>, with or without VNNI), skipped with the reason where this CPU lacks that ISA.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
public sealed class OnQuantPathAttribute : DataAttribute
{
    private readonly SimdPath _path;
    private readonly bool _vnni;

    public OnQuantPathAttribute(SimdPath path, bool vnni)
    {
        _path = path;
        _vnni = vnni;
        if (!SimdPaths.CanRun(path)) Skip = $"{path} is not accelerated on this CPU (widest: {SimdPaths.Widest})";
        else if (vnni && !SimdPaths.VnniSupported) Skip = "this CPU has no AVX-VNNI";
    }

    // (bits, group, zero point, out, in, rows of x, bias, threads): row counts not multiples of 4 or 16, input widths with
    // and without a tail past the last whole vector (int8: 64/32 columns; int4: 128-column super-blocks), partial x blocks.
    public static readonly object[][] Cases =
    [
        [8, 0, false, 37, 96, 1, true, 1],
        [8, 0, false, 19, 200, 5, false, 1],
        [8, 0, false, 520, 512, 1, true, 2],
        [8, 0, false, 150, 448, 7, true, 2],
        [4, 32, false, 37, 96, 1, true, 1],
        [4, 32, true, 21, 416, 6, false, 1],
        [4, 64, false, 1030, 512, 1, true, 2],
        [4, 64, true, 45, 320, 3, true, 1],
        [4, 64, false, 13, 768, 9, false, 1],
        [4, 128, false, 17, 512, 4, false, 1],
        [4, 128, true, 300, 1024, 2, true, 2],
    ];

    public override IEnumerable<object[]> GetData(MethodInfo testMethod) => Cases.Select(c => (object[])[_path, _vnni, .. c]);
}

[Collection(SimdPathCollection.Name)]
public class QuantizedGemmTests
{
    /// <summary>The quantized weight, x and bias of one case, fixed seeds.</summary>
    private static (QuantizedWeight W, Tensor X, Tensor? B) Case(int bits, int group, bool zeroPoint, int outFeatures, int inFeatures, int n, bool withBias)
    {
        var gen = new torch.Generator((ulong)(31 + outFeatures + inFeatures));
        var w = randn([outFeatures, inFeatures], generator: gen);
        var x = randn([n, inFeatures], generator: gen) * (1 + 3 * rand([n, inFeatures], generator: gen));   // uneven magnitudes per block
        var b = withBias ? randn([outFeatures], generator: gen) : null;
        return (QuantizedWeight.Quantize(w, bits, group == 0 ? 64 : group, zeroPoint), x, b);
    }

    private static Tensor On(SimdPath path, bool vnni, int threads, Func<Tensor> run, (int Rows, int Cols, int N, int Bits)? split = null)
    {
        int before = torch.get_num_threads();
        torch.set_num_threads(threads);
        if (split is var (rows, cols, n, bits))                                      // the case really runs on that many threads
            Assert.Equal(Math.Min(threads, Environment.ProcessorCount), QuantizedGemm.Threads(rows, cols, n, bits));
        try
        {
            using (SimdPaths.Force(path))
            using (SimdPaths.ForceVnni(vnni))
                return run();
        }
        finally { torch.set_num_threads(before); }
    }

    // ---- Accuracy. Activation quantization (q8_0) moves each x_k by at most half a step, h_k = max|x_block(k)| / 254, so
    // |y − (Ŵ·x + b)| ≤ Σ_k |ŵ_k|·h_k for the exact sums (Ŵ the dequantized weight). The integer dots are exact; the
    // float part (a scale product, one FMA per vector chunk, the lane sum, the zero-point and tail terms, the row scale)
    // makes at most m = in/16 + 40 roundings on partial sums bounded by M = Σ_k c·s_k·|x̂_k| + |b|, where s_k is the
    // weight's scale there and c·s_k bounds the integer actually multiplied (int8: |w| + 128 ≤ 255 under VNNI's offset;
    // int4: |u| + |zero| ≤ 30), so every path is within (m + 1)·2^−24·M of the scalar path (Higham §3.1) and within that
    // plus Σ|ŵ|·h of the float64 product. ----

    [Theory]
    [OnQuantPath(SimdPath.Scalar, false)]
    [OnQuantPath(SimdPath.Vector256, false)]
    [OnQuantPath(SimdPath.Vector256, true)]
    [OnQuantPath(SimdPath.Vector512, false)]
    [OnQuantPath(SimdPath.Vector512, true)]
    public void Linear_EachPath_WithinActivationQuantizationBound(SimdPath path, bool vnni, int bits, int group, bool zeroPoint,
        int outFeatures, int inFeatures, int n, bool withBias, int threads)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (q, x, b) = Case(bits, group, zeroPoint, outFeatures, inFeatures, n, withBias);
        using var _ = q;
        var y = On(path, vnni, threads, () => QuantizedGemm.Linear(x, q, b, path, vnni), (outFeatures, inFeatures, n, bits)).to(ScalarType.Float64);   // (n, out)
        var scalar = On(SimdPath.Scalar, false, 1, () => QuantizedGemm.Linear(x, q, b, SimdPath.Scalar, false)).to(ScalarType.Float64);
        Assert.Equal(new long[] { n, outFeatures }, y.shape);

        var wq = q.Dequantize().to(ScalarType.Float64);                                                   // (out, in)
        var x64 = x.to(ScalarType.Float64);
        var b64 = b?.to(ScalarType.Float64);
        var exact = nn.functional.linear(x64, wq, b64);                                                   // (n, out)
        var h = BlockMax(x64) / 254.0 * (1 + 1e-6);                                                      // (n, in)
        var quantBound = h.matmul(wq.abs().t());                                                          // (n, out)
        var s = bits == 8 ? q.Scales.to(ScalarType.Float64).expand(outFeatures, inFeatures)
            : q.Scales.to(ScalarType.Float64).repeat_interleave(group, 1);                               // (out, in)
        double c = bits == 8 ? 256 : 32;
        var magnitude = (x64.abs() + h).matmul((s.abs() * c).t()) + (b64 is null ? 0.0 : b64.abs());      // (n, out)
        double m = inFeatures / 16.0 + 40;
        var roundBound = magnitude * ((m + 1) / (1 << 24));

        double vsScalar = ((y - scalar).abs() - roundBound).max().item<double>();
        Assert.True(vsScalar <= 0, $"{path}{(vnni ? "+VNNI" : "")}: an output is {vsScalar:E3} beyond the rounding bound from the scalar path");
        double vsExact = ((y - exact).abs() - quantBound - roundBound).max().item<double>();
        Assert.True(vsExact <= 0, $"{path}{(vnni ? "+VNNI" : "")}: an output is {vsExact:E3} beyond the activation-quantization bound");
    }

    /// <summary>max |x| of each element's block of 32 columns, (n, in).</summary>
    private static Tensor BlockMax(Tensor x)
    {
        long n = x.shape[0], cols = x.shape[1], padded = (cols + 31) / 32 * 32;
        var p = nn.functional.pad(x.abs(), [0, padded - cols]).view(n, padded / 32, 32);
        return p.amax([2]).repeat_interleave(32, 1).narrow(1, 0, cols);
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512, 8)]
    [OnSimdPath(SimdPath.Vector256, 8)]
    [OnSimdPath(SimdPath.Scalar, 8)]
    [OnSimdPath(SimdPath.Vector512, 4)]
    [OnSimdPath(SimdPath.Vector256, 4)]
    [OnSimdPath(SimdPath.Scalar, 4)]
    public void Linear_IntegerActivationsWithBlockMax127_EqualExactProduct(SimdPath path, int bits)
    {
        // Every block of x holds integers with max |x| = 127, so q8_0 is exact (scale 1) and y = Ŵ·x exactly: the int32
        // sums are exact, and with power-of-two weight scales every float product and sum is exact too.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        const int rows = 6, cols = 256;
        var gen = new torch.Generator(5);
        var x = randint(-127, 128, [2, cols], generator: gen).to(ScalarType.Float32);
        x.view(2, cols / 32, 32).select(2, 3).fill_(127);
        QuantizedWeight q;
        if (bits == 8)
            q = new QuantizedWeight(8, cols, randint(-127, 128, [rows, cols], generator: gen).to(ScalarType.Int8), full([rows, 1], 0.25f), null);
        else
        {
            var u = randint(0, 16, [rows, cols], generator: gen).to(ScalarType.Byte);
            q = new QuantizedWeight(4, 64, QuantizedWeight.Pack4(u), full([rows, cols / 64], 0.5f), null);
        }
        using var _ = q;
        var expected = x.to(ScalarType.Float64).matmul(q.Dequantize().to(ScalarType.Float64).t());           // (2, rows)
        foreach (bool vnni in SimdPaths.VnniSupported && path != SimdPath.Scalar ? new[] { false, true } : [false])
        {
            var y = On(path, vnni, 1, () => QuantizedGemm.Linear(x, q, null, path, vnni));
            Assert.Equal(expected.to(ScalarType.Float32).data<float>().ToArray(), y.data<float>().ToArray());
        }
    }

    [Theory]
    [OnSimdPath(SimdPath.Vector512, true)]
    [OnSimdPath(SimdPath.Vector256, true)]
    [OnSimdPath(SimdPath.Vector256, false)]
    [OnSimdPath(SimdPath.Scalar, false)]
    public void Linear_ForcedPath_SameAsExplicitKernel(SimdPath path, bool vnniFlag)
    {
        // The default entry point takes the forced path, with VNNI only on Vector256 (slower as two halves on Vector512).
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (q, x, b) = Case(4, 32, false, 33, 256, 3, true);
        using var _ = q;
        bool vnni = vnniFlag && SimdPaths.VnniSupported;
        var y = On(path, vnni, 1, () => QuantizedGemm.Linear(x, q, b));
        var expected = QuantizedGemm.Linear(x, q, b, path, vnni && path == SimdPath.Vector256);
        Assert.Equal(expected.data<float>().ToArray(), y.data<float>().ToArray());
    }

    [Fact]
    public void Linear_BatchedLeadingDims_ShapeAndRowsMatchOneRowCalls()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (q, x, b) = Case(4, 64, false, 40, 128, 6, true);
        using var _ = q;
        var y = QuantizedGemm.Linear(x.view(2, 3, 128), q, b);                                            // (2, 3, 40)
        Assert.Equal(new long[] { 2, 3, 40 }, y.shape);
        for (int t = 0; t < 6; t++)
        {
            var one = QuantizedGemm.Linear(x.narrow(0, t, 1), q, b);                                      // (1, 40)
            AssertSameUpToSumOrder(one, y.view(6, 40).narrow(0, t, 1));
        }
    }

    /// <summary>
    /// A row alone and the same row in a tile of four see the same integers; only the order of the float sums can differ
    /// (one chain or two per row), so within 2^−20 of the row's largest output (a few hundred roundings of 2^−24 each).
    /// </summary>
    private static void AssertSameUpToSumOrder(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        double scale = expected.abs().max().item<float>();
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff <= scale / (1 << 20), $"rows differ by {diff:E3} (scale {scale:E3})");
    }

    [Theory]
    [InlineData(1152, 384, 8, 2, 44)]        // config A attn_qkv: 1152 / 32 = 36 rows < 16 KiB / 384 B → 43, to 44
    [InlineData(50304, 384, 4, 2, 1572)]     // config A head, int4: 50304 / 32 = 1572 rows (≥ 86 for 16 KiB of 192 B rows)
    [InlineData(3072, 768, 8, 1, 192)]       // one thread: 3072 / 16 = 192 rows
    [InlineData(10, 64, 8, 2, 256)]          // tiny: 16 KiB / 64 B = 256 rows, one item
    [InlineData(7, 65536, 8, 2, 4)]          // wide rows: at least 4
    public void ChunkRows_Shapes_AboutSixteenItemsPerThreadOfAtLeast16KiB(int rows, int cols, int bits, int threads, int expected) =>
        Assert.Equal(expected, QuantizedGemm.ChunkRows(rows, cols, bits, threads));

    [Theory]
    [InlineData(8, 0, 1030, 384)]
    [InlineData(4, 64, 2100, 384)]
    [InlineData(4, 32, 2500, 256)]
    public void Linear_OneRowOnTwoThreads_SameBitsAsOneThread(int bits, int group, int outFeatures, int inFeatures)
    {
        // One decode row split in row chunks over DecodeThreads: every output is computed by the same row loop whatever the split.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (q, x, b) = Case(bits, group, false, outFeatures, inFeatures, 1, true);
        using var _ = q;
        var path = SimdPaths.Widest;
        var one = On(path, false, 1, () => QuantizedGemm.Linear(x, q, b));
        for (int round = 0; round < 20; round++)                                        // helpers joining early, late or not at all
        {
            var two = On(path, false, 2, () => QuantizedGemm.Linear(x, q, b), (outFeatures, inFeatures, 1, bits));
            Assert.Equal(one.data<float>().ToArray(), two.data<float>().ToArray());
        }
    }

    [Fact]
    public void Linear_MoreRowsThanFused_EqualsReference()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (q, x, b) = Case(8, 0, false, 24, 64, QuantizedGemm.MaxFusedRows + 1, true);
        using var _ = q;
        var y = QuantizedGemm.Linear(x, q, b);
        Assert.Equal(QuantizedGemm.Reference(x, q, b).data<float>().ToArray(), y.data<float>().ToArray());
    }

    [Fact]
    public void Linear_MoreRowsThanOnePassWhenAllowed_RowsMatchOneRowCalls()
    {
        // 37 rows: a pass of 32 and one of 5, each row's output as if it came alone.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (q, x, b) = Case(4, 64, false, 20, 128, 37, true);
        using var _ = q;
        int before = QuantizedGemm.MaxFusedRows;
        QuantizedGemm.MaxFusedRows = 64;
        try
        {
            var y = QuantizedGemm.Linear(x, q, b);                                                       // (37, 20)
            foreach (int t in new[] { 0, 31, 32, 36 })
                AssertSameUpToSumOrder(QuantizedGemm.Linear(x.narrow(0, t, 1), q, b), y.narrow(0, t, 1));
        }
        finally { QuantizedGemm.MaxFusedRows = before; }
    }

    [Fact]
    public void Linear_Float32Activations_EqualsReference()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (q, x, b) = Case(4, 32, true, 24, 96, 1, true);
        using var _ = q;
        var before = QuantizedGemm.Activations;
        QuantizedGemm.Activations = QuantizedActivations.Float32;
        try
        {
            var y = QuantizedGemm.Linear(x, q, b);
            Assert.Equal(QuantizedGemm.Reference(x, q, b).data<float>().ToArray(), y.data<float>().ToArray());
        }
        finally { QuantizedGemm.Activations = before; }
    }

    [Fact]
    public void Linear_WrongInputWidth_Throws()
    {
        using var scope = NewDisposeScope();
        var (q, _, _) = Case(8, 0, false, 4, 64, 1, false);
        using var _q = q;
        Assert.Throws<ArgumentException>(() => QuantizedGemm.Linear(torch.zeros(1, 63), q));
    }

    [Theory]
    [InlineData(null, QuantizedActivations.Int8Blocks)]
    [InlineData("", QuantizedActivations.Int8Blocks)]
    [InlineData(" INT8 ", QuantizedActivations.Int8Blocks)]
    [InlineData("float32", QuantizedActivations.Float32)]
    public void ParseActivations_Names_GiveMode(string? text, QuantizedActivations expected) =>
        Assert.Equal(expected, QuantizedGemm.ParseActivations(text));

    [Fact]
    public void ParseActivations_Unknown_ThrowsConfigException() =>
        Assert.Throws<ConfigException>(() => QuantizedGemm.ParseActivations("fp16"));

    [Fact]
    public unsafe void QuantizeBlockScalar_HandBlock_ScaleIsMaxOver127AndRoundsHalfToEven()
    {
        // max |x| = 31.75: scale 0.25, q = x · 4: 31.75 → 127, −0.375 → −1.5 → −2 (half to even), 0.125 → 0.5 → 0, 0.625 → 2.5 → 2.
        float[] x = [31.75f, -0.375f, 0.125f, 0.625f];
        sbyte[] q = new sbyte[32];
        fixed (float* xp = x)
        fixed (sbyte* qp = q)
        {
            var (scale, sum) = QuantizedGemm.QuantizeBlockScalar(xp, x.Length, qp);
            Assert.Equal(0.25f, scale);
            Assert.Equal(127 - 2 + 0 + 2, sum);
        }
        Assert.Equal(new sbyte[] { 127, -2, 0, 2 }, q[..4]);
        Assert.All(q[4..], v => Assert.Equal(0, v));
    }

    [Fact]
    public void ForceVnni_Off_VnniIsFalseUntilDisposed()
    {
        bool before = SimdPaths.Vnni;
        using (SimdPaths.ForceVnni(false)) Assert.False(SimdPaths.Vnni);
        Assert.Equal(before, SimdPaths.Vnni);
    }
}
