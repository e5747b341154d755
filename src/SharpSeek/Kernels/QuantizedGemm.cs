using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using SharpSeek.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>How <see cref="QuantizedGemm"/> treats the float32 activations.</summary>
public enum QuantizedActivations
{
    /// <summary>
    /// Quantized to int8 per block of 32 columns (ggml's q8_0: scale = max|x| / 127, round half to even), then integer dot
    /// products with the weight's integers and one float scale per block: the fast path (llama.cpp's q8_0/q4_0 × q8_0).
    /// </summary>
    Int8Blocks = 0,

    /// <summary>Exact float32 activations: the weight is dequantized and LibTorch multiplies (the reference; slow for decode).</summary>
    Float32 = 1,
}

/// <summary>
/// y = x·Wᵀ + b for a weight-only quantized W (<see cref="QuantizedWeight"/>), float32 activations, CPU, no autograd.
/// <para>Fused kernels (the default, <see cref="QuantizedActivations.Int8Blocks"/>): each row of x is quantized to int8
/// per block of 32 columns as llama.cpp's q8_0 does (error ≤ max|x_block| / 254 per element), then every output is
/// Σ_blocks scale_w · scale_x · Σ_k (q_w,k − zero)·q_x,k with the inner sums exact in int32: int8 weights directly, int4
/// weights unpacked from their nibbles in registers (never dequantized in memory), the zero point (8 when symmetric)
/// taken out per int32 lane (symmetric) or once per group (asymmetric) as zero · Σ q_x. Up to <see cref="MaxFusedRows"/>
/// rows of x per call (decode steps and prefill chunks), in passes of 32; weight rows split over
/// <see cref="KernelThreads"/> threads (one row of x: in chunks handed out by <see cref="DecodeThreads"/>, as
/// <see cref="DecodeGemv"/> does; more rows: <c>Parallel.For</c>), x rows taken four at a time so each weight chunk is loaded and unpacked once for
/// four. Paths (<see cref="SimdPaths.Current"/>): Vector512 (AVX-512 BW vpmaddubsw + vpmaddwd on 64 bytes), Vector256
/// (AVX2 the same on 32 bytes, or AVX-VNNI vpdpbusd when <see cref="SimdPaths.Vnni"/>), and the scalar reference (the
/// same integer maths one element at a time, blocks summed in double; runs only when asked for, as in
/// <see cref="DecodeGemv"/>). .NET 10 has no 512-bit vpdpbusd; a Vector512 variant doing it as two 256-bit halves exists
/// (the explicit-path overload, for tests and benchmarks) but is not the default: it measured 1.7-3× slower.</para>
/// <para>Everything else goes to <see cref="Reference"/> (dequantize, then LibTorch's matmul): <see cref="QuantizedActivations.Float32"/>
/// (exact activations, for accuracy comparisons), more than <see cref="MaxFusedRows"/> rows, autograd, non-CPU or
/// non-float32 input, a CPU without AVX2 unless the scalar path is forced.</para>
/// </summary>
/// <remarks>
/// Measured by <c>bench/run quant-kernels</c> (docs/results/quant-kernels.json), Zen 5 EPYC, one thread, process CPU µs
/// per call for one decode row (machine heavily loaded, load average 45-85 on 2 cores, so ratios rather than absolutes):
/// GPT-2 124M mlp_fc 768→3072: fp32 DecodeGemv 117, int8 44, int4 (g64) 43; head 768→50257: fp32 5813, int8 1228,
/// int4 806. Summed over a token's projections (layers × 4 + head): GPT-2 124M fp32 10,269, int8 2,785 (3.7×), int4
/// 2,304 (4.5×); config A fp32 3,866, int8 808 (4.8×), int4 696 (5.6×). Vector256 is 1.1-1.3× slower than Vector512,
/// AVX-VNNI gains ≤ 10% on it; the scalar path is ~30× slower. Prefill chunk (768→3072, n rows, 1 thread): int8 fused
/// 1,659 µs at n = 32 vs 3,393 for dequantize + matmul and 2,296 for fp32 LibTorch; still ahead of the reference at
/// n = 128 (6,711 vs 8,499), hence <see cref="MaxFusedRows"/> = 128.
/// Accuracy of the activation quantization: |Δy| ≤ Σ_k |ŵ_k| · max|x_block(k)| / 254 (+ float rounding), asserted by the
/// tests; on random 768→3072 weights the relative RMS change of y is 0.5% for Gaussian x and 1.2% with outlier features
/// (every 97th feature ×20), against 0.8% (int8) and 9.5% (int4 g64) from the weight quantization itself.
/// </remarks>
public static unsafe partial class QuantizedGemm
{
    /// <summary>
    /// Rows of x up to which the fused kernels run; above, dequantize + LibTorch matmul. An explicit option (process-wide),
    /// for benchmarks that find the crossing on their CPU.
    /// </summary>
    public static int MaxFusedRows { get; set; } = 128;

    /// <summary>Rows of x quantized and multiplied per pass of the fused kernels.</summary>
    private const int RowsPerPass = 32;

    /// <summary>Environment variable choosing <see cref="Activations"/>'s default: <c>int8</c> (default) or <c>float32</c>.</summary>
    public const string ActivationsVariable = "SHARPSEEK_QUANT_ACTIVATIONS";

    /// <summary>
    /// How activations are treated (process-wide, an explicit option: <see cref="QuantizedActivations.Float32"/> is the
    /// exact fallback for accuracy comparisons). Default from <c>SHARPSEEK_QUANT_ACTIVATIONS</c>.
    /// </summary>
    public static QuantizedActivations Activations { get; set; } = ParseActivations(Environment.GetEnvironmentVariable(ActivationsVariable));

    /// <summary>The mode named by <paramref name="text"/> (int8 | float32, empty = int8).</summary>
    /// <exception cref="ConfigException">Anything else.</exception>
    public static QuantizedActivations ParseActivations(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "int8" => QuantizedActivations.Int8Blocks,
        "float32" or "f32" => QuantizedActivations.Float32,
        _ => throw new ConfigException($"{ActivationsVariable} must be int8 or float32, got '{text}'"),
    };

    /// <summary><paramref name="x"/> (…, in) float32 → (…, out) float32.</summary>
    public static Tensor Linear(Tensor x, QuantizedWeight weight, Tensor? bias = null)
    {
        CheckInput(x, weight);
        var path = SimdPaths.Current;
        bool fused = Activations == QuantizedActivations.Int8Blocks && (path != SimdPath.Scalar || SimdPaths.IsExplicit);
        // VNNI only on the Vector256 path: on Vector512, two 256-bit vpdpbusd per 64 bytes measured slower than vpmaddubsw.
        return fused && CanFuse(x, weight, bias) ? Fused(x, weight, bias, path, path == SimdPath.Vector256 && SimdPaths.Vnni) : Reference(x, weight, bias);
    }

    /// <summary>
    /// <see cref="Linear(Tensor, QuantizedWeight, Tensor?)"/> on the given kernel path (benchmarks compare them in one process);
    /// inputs the fused kernels do not take still go to the reference.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">This CPU cannot run <paramref name="path"/>, or VNNI was asked for without AVX-VNNI.</exception>
    public static Tensor Linear(Tensor x, QuantizedWeight weight, Tensor? bias, SimdPath path, bool vnni)
    {
        CheckInput(x, weight);
        if (!SimdPaths.CanRun(path)) throw new PlatformNotSupportedException($"{path} is not accelerated on this CPU");
        if (vnni && !SimdPaths.VnniSupported) throw new PlatformNotSupportedException("AVX-VNNI is not supported on this CPU");
        return CanFuse(x, weight, bias) ? Fused(x, weight, bias, path, vnni) : Reference(x, weight, bias);
    }

    /// <summary>The reference: dequantize, then LibTorch's linear (exact float32 activations).</summary>
    public static Tensor Reference(Tensor x, QuantizedWeight weight, Tensor? bias = null)
    {
        CheckInput(x, weight);
        using var w = weight.Dequantize();                                            // (out, in)
        return nn.functional.linear(x, w, bias);
    }

    private static void CheckInput(Tensor x, QuantizedWeight weight)
    {
        long features = x.dim() == 0 ? 0 : x.size(-1);
        if (features != weight.Cols)
            throw new ArgumentException($"input has {features} features, the quantized weight takes {weight.Cols}");
    }

    private static bool CanFuse(Tensor x, QuantizedWeight weight, Tensor? bias) =>
        x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32
        && x.NumberOfElements / weight.Cols is var n && n >= 1 && n <= MaxFusedRows
        && !(torch.is_grad_enabled() && x.requires_grad)
        && (bias is null || (bias.device_type == DeviceType.CPU && bias.dtype == ScalarType.Float32 && bias.is_contiguous()
                             && bias.NumberOfElements == weight.Rows && !(torch.is_grad_enabled() && bias.requires_grad)));

    private static Tensor Fused(Tensor x, QuantizedWeight weight, Tensor? bias, SimdPath path, bool vnni)
    {
        int rows = weight.Rows, cols = weight.Cols;
        long[] xShape = x.shape;
        long elements = 1;
        foreach (long d in xShape) elements *= d;
        int n = (int)(elements / cols);
        Tensor? copy = x.is_contiguous() ? null : x.contiguous();
        var y = torch.empty(OutputShape(xShape, rows), ScalarType.Float32);              // (…, out)
        bool vector = path != SimdPath.Scalar;
        float* xp = (float*)Address(copy ?? x, (long)n * cols * 4), yp = (float*)Address(y, (long)n * rows * 4);
        float* bp = bias is null ? null : (float*)Address(bias, (long)rows * 4);
        var (data, scales, zeros) = weight.Addresses;
        for (int p0 = 0; p0 < n; p0 += RowsPerPass)                                   // passes of up to 32 rows of x
        {
            int np = Math.Min(RowsPerPass, n - p0);
            var act = Activations8.ForThisThread(np, cols, weight.Bits == 4 ? weight.GroupSize : 0, permuteNibbles: vector && weight.Bits == 4);
            act.Quantize(xp + (long)p0 * cols, vector && Avx2.IsSupported);
            var job = new Job((void*)data, (float*)scales, (byte*)zeros, rows, cols, weight.Bits, weight.GroupSize, act,
                bp, yp + (long)p0 * rows, path, vnni);
            int threads = Threads(rows, cols, np, weight.Bits);
            if (threads == 1) job.Run(0, rows);
            else if (np == 1) RowChunks.Run(job, threads, ChunkRows(rows, cols, weight.Bits, threads));
            else
            {
                int chunk = (rows + threads - 1) / threads;
                chunk = (chunk + 15) / 16 * 16;
                Parallel.For(0, threads, t =>
                {
                    int r0 = t * chunk, r1 = Math.Min(rows, r0 + chunk);
                    if (r0 < r1) job.Run(r0, r1);
                });
            }
        }
        copy?.Dispose();
        return y;
    }

    /// <summary>(…, <paramref name="rows"/>): <paramref name="xShape"/> with its last size replaced.</summary>
    private static long[] OutputShape(long[] xShape, int rows)
    {
        if (xShape.Length == 0) return [rows];
        xShape[^1] = rows;                                                             // x.shape returns a fresh array
        return xShape;
    }

    /// <summary>
    /// Weight rows per work item of a decode row (<see cref="DecodeThreads"/>): about 16 items per thread (a late thread
    /// takes fewer), at least 16 KiB of weight bytes each (claiming an item stays negligible), a multiple of 4.
    /// </summary>
    internal static int ChunkRows(int rows, int cols, int bits, int threads)
    {
        long rowBytes = Math.Max(1, (long)cols * bits / 8);
        long chunk = Math.Max((rows + 16L * threads - 1) / (16L * threads), (16384 + rowBytes - 1) / rowBytes);
        return (int)Math.Max(4, (chunk + 3) / 4 * 4);
    }

    /// <summary>
    /// The one-row (decode) split: chunks of weight rows handed out by <see cref="DecodeThreads"/>, whose spinning helper
    /// costs a few µs per call where <c>Parallel.For</c> costs tens on the 10-50 µs matmuls of small models. One instance
    /// per calling thread with its delegate made once, so a call allocates nothing here.
    /// </summary>
    private sealed class RowChunks
    {
        [ThreadStatic] private static RowChunks? _perThread;
        private readonly Action<int> _body;
        private Job _job;
        private int _chunk, _rows;

        private RowChunks() => _body = c =>
        {
            int r0 = c * _chunk, r1 = Math.Min(_rows, r0 + _chunk);
            _job.Run(r0, r1);
        };

        public static void Run(Job job, int threads, int chunk)
        {
            var s = _perThread ??= new RowChunks();
            s._job = job;
            s._chunk = chunk;
            s._rows = job.Rows;
            try { DecodeThreads.For(threads, (job.Rows + chunk - 1) / chunk, s._body); }
            finally { s._job = default; }
        }
    }

    /// <summary>
    /// Threads for one pass: <see cref="KernelThreads.Count"/> of the work in fp32-weight equivalents (an int8 weight costs
    /// about a quarter, an int4 weight an eighth of a float FMA here).
    /// </summary>
    internal static int Threads(int rows, int cols, int n, int bits) => KernelThreads.Count((long)rows * cols * n / (bits == 8 ? 4 : 8));

    /// <summary>A contiguous CPU tensor's address: through TorchSharp's byte span when under 2 GB (no view made), else <see cref="TensorData.Pointer"/>.</summary>
    private static void* Address(Tensor t, long bytes) =>
        bytes < int.MaxValue ? Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes)) : TensorData.Pointer(t);

    /// <summary>One call's inputs for the row workers.</summary>
    private readonly struct Job(void* w, float* scales, byte* zeros, int rows, int cols, int bits, int group, Activations8 act,
        float* bias, float* y, SimdPath path, bool vnni)
    {
        private readonly void* _w = w;
        private readonly float* _scales = scales;
        private readonly byte* _zeros = zeros;
        private readonly int _rows = rows, _cols = cols, _bits = bits, _group = group;

        /// <summary>Weight rows (outputs per row of x).</summary>
        public int Rows => _rows;

        /// <summary>Outputs of weight rows [r0, r1) for every row of x.</summary>
        public void Run(int r0, int r1)
        {
            var k = new RowRange(r0, r1, _rows, _cols, bias, y, act);
            if (_bits == 8)
            {
                var w = (sbyte*)_w;
                if (SimdPaths.Is512(path)) { if (vnni) Int8Rows512<VnniDot>(w, _scales, k); else Int8Rows512<MaddDot>(w, _scales, k); }
                else if (SimdPaths.Is256(path)) { if (vnni) Int8Rows256<VnniDot>(w, _scales, k); else Int8Rows256<MaddDot>(w, _scales, k); }
                else Int8RowsScalar(w, _scales, k);
                return;
            }
            var w4 = (byte*)_w;
            if (path == SimdPath.Scalar || !(SimdPaths.Is512(path) || SimdPaths.Is256(path))) { Int4RowsScalar(w4, _scales, _zeros, _group, k); return; }
            bool wide = SimdPaths.Is512(path);
            switch (_group, vnni, wide)
            {
                case (32, false, true): Int4Rows512<MaddDot, Group32>(w4, _scales, _zeros, k); break;
                case (64, false, true): Int4Rows512<MaddDot, Group64>(w4, _scales, _zeros, k); break;
                case (128, false, true): Int4Rows512<MaddDot, Group128>(w4, _scales, _zeros, k); break;
                case (32, true, true): Int4Rows512<VnniDot, Group32>(w4, _scales, _zeros, k); break;
                case (64, true, true): Int4Rows512<VnniDot, Group64>(w4, _scales, _zeros, k); break;
                case (128, true, true): Int4Rows512<VnniDot, Group128>(w4, _scales, _zeros, k); break;
                case (32, false, false): Int4Rows256<MaddDot, Group32>(w4, _scales, _zeros, k); break;
                case (64, false, false): Int4Rows256<MaddDot, Group64>(w4, _scales, _zeros, k); break;
                case (128, false, false): Int4Rows256<MaddDot, Group128>(w4, _scales, _zeros, k); break;
                case (32, true, false): Int4Rows256<VnniDot, Group32>(w4, _scales, _zeros, k); break;
                case (64, true, false): Int4Rows256<VnniDot, Group64>(w4, _scales, _zeros, k); break;
                default: Int4Rows256<VnniDot, Group128>(w4, _scales, _zeros, k); break;
            }
        }
    }

    /// <summary>The weight rows one worker computes, with everything the row loops read.</summary>
    private readonly struct RowRange(int r0, int r1, int rows, int cols, float* bias, float* y, Activations8 act)
    {
        public readonly int R0 = r0, R1 = r1, Rows = rows, Cols = cols;
        public readonly float* Bias = bias, Y = y;
        public readonly Activations8 X = act;
    }

    /// <summary>
    /// The rows of x quantized to int8 by blocks of 32 columns (q8_0), with what the kernels need per row t:
    /// <see cref="Q"/>(t) the integers (zero-padded to whole blocks; for int4 weights on the vector paths, each full
    /// 128-column super-block reordered as its 16-column chunks 0, 2, 4, 6, 1, 3, 5, 7 so the low and high nibbles of 64
    /// weight bytes meet their columns), <see cref="Scale8"/>(t) each block's scale repeated 8 times (the int32 lanes of
    /// an int8 dot), <see cref="Scale4"/>(t) repeated 4 times (int4), <see cref="GroupSums"/>(t) Σ_blocks∈group scale·Σq
    /// for the zero points, and <see cref="Total"/>(t) = Σ_blocks scale·Σq.
    /// </summary>
    private sealed class Activations8
    {
        public int N, Cols, Blocks, Stride, GroupSize, Groups, Supers;
        private bool _permute;
        private sbyte* _q;
        private float* _s8, _s4, _groupSums, _total, _blockScale;
        private int* _blockSum, _lanes;
        private void* _memory;
        private long _capacity;

        [ThreadStatic] private static Activations8? _perThread;

        /// <summary>This thread's buffers, grown as needed and kept (a few hundred KB at most), laid out for one call.</summary>
        public static Activations8 ForThisThread(int n, int cols, int groupSize, bool permuteNibbles)
        {
            var a = _perThread ??= new Activations8();
            a.Layout(n, cols, groupSize, permuteNibbles);
            return a;
        }

        private void Layout(int n, int cols, int groupSize, bool permuteNibbles)
        {
            N = n; Cols = cols; Blocks = (cols + 31) / 32; Stride = Blocks * 32; GroupSize = groupSize;
            Groups = groupSize > 0 ? cols / groupSize : 0;
            Supers = cols / 128;
            _permute = permuteNibbles;
            long qBytes = ((long)n * Stride * 2 + 63) / 64 * 64;                        // the int8 rows and one row of scratch
            long words = (long)n * Blocks * (8 + 4 + 1) + (long)n * Groups + n + Blocks + (long)n * Supers * 16;
            long bytes = qBytes + words * 4 + 256;
            if (bytes > _capacity)
            {
                if (_memory != null) NativeMemory.AlignedFree(_memory);
                _capacity = Math.Max(bytes, 2 * _capacity);
                _memory = NativeMemory.AlignedAlloc((nuint)_capacity, 64);
            }
            byte* p = (byte*)_memory;
            _q = (sbyte*)p; p += qBytes;
            _lanes = (int*)p; p += (long)n * Supers * 16 * 4;
            _s8 = (float*)p; p += (long)n * Blocks * 8 * 4;
            _s4 = (float*)p; p += (long)n * Blocks * 4 * 4;
            _blockScale = (float*)p; p += (long)n * Blocks * 4;
            _groupSums = (float*)p; p += (long)n * Groups * 4;
            _total = (float*)p; p += (long)n * 4;
            _blockSum = (int*)p;
        }

        /// <summary>
        /// For symmetric int4 on the vector paths, row t's 8 · Σq over the 8 columns feeding each int32 lane of super-block s
        /// (16 ints per super-block): the lanes' share of zero · Σq, taken out in the integer domain.
        /// </summary>
        public int* Lanes8(int t) => _lanes + (long)t * Supers * 16;

        public sbyte* Q(int t) => _q + (long)t * Stride;
        public float* Scale8(int t) => _s8 + (long)t * Blocks * 8;
        public float* Scale4(int t) => _s4 + (long)t * Blocks * 4;
        public float* BlockScale(int t) => _blockScale + (long)t * Blocks;
        public float* GroupSums(int t) => _groupSums + (long)t * Groups;
        public float Total(int t) => _total[t];

        /// <summary>Quantizes the n rows of <paramref name="x"/> (n, cols); <paramref name="avx2"/> vectorizes whole blocks with identical results.</summary>
        public void Quantize(float* x, bool avx2)
        {
            sbyte* scratch = _q + (long)N * Stride;
            for (int t = 0; t < N; t++)
            {
                float* xr = x + (long)t * Cols;
                sbyte* q = _permute ? scratch : Q(t);
                float* bs = BlockScale(t);
                double total = 0;
                for (int b = 0; b < Blocks; b++)
                {
                    int c0 = b * 32, len = Math.Min(32, Cols - c0);
                    float scale;
                    int sum;
                    if (avx2 && len == 32) (scale, sum) = QuantizeBlock256(xr + c0, q + c0);
                    else (scale, sum) = QuantizeBlockScalar(xr + c0, len, q + c0);
                    bs[b] = scale;
                    _blockSum[b] = sum;
                    total += (double)scale * sum;
                    float* s8 = Scale8(t) + b * 8;
                    for (int i = 0; i < 8; i++) s8[i] = scale;
                    float* s4 = Scale4(t) + b * 4;
                    for (int i = 0; i < 4; i++) s4[i] = scale;
                }
                _total[t] = (float)total;
                if (Groups > 0)
                {
                    int per = GroupSize / 32;
                    float* gs = GroupSums(t);
                    for (int g = 0; g < Groups; g++)
                    {
                        double s = 0;
                        for (int b = g * per; b < (g + 1) * per; b++) s += (double)bs[b] * _blockSum[b];
                        gs[g] = (float)s;
                    }
                }
                if (_permute)
                {
                    Permute(scratch, Q(t), Cols);
                    sbyte* qt = Q(t);
                    int* lanes = Lanes8(t);
                    for (int sb = 0; sb < Supers; sb++)
                        for (int i = 0; i < 16; i++)
                        {
                            sbyte* lo = qt + 128 * sb + 4 * i, hi = lo + 64;
                            lanes[16 * sb + i] = 8 * (lo[0] + lo[1] + lo[2] + lo[3] + hi[0] + hi[1] + hi[2] + hi[3]);
                        }
                }
            }
        }

        /// <summary>Full 128-column super-blocks as chunks 0, 2, 4, 6, 1, 3, 5, 7 of 16 columns; the rest as is.</summary>
        private static void Permute(sbyte* from, sbyte* to, int cols)
        {
            int supers = cols / 128;
            for (int s = 0; s < supers; s++)
                for (int c = 0; c < 8; c++)
                    Buffer.MemoryCopy(from + s * 128 + c * 16, to + s * 128 + (c & 1) * 64 + (c >> 1) * 16, 16, 16);
            int rest = (cols + 31) / 32 * 32 - supers * 128;
            Buffer.MemoryCopy(from + supers * 128, to + supers * 128, rest, rest);
        }
    }

    /// <summary>q8_0 of one block of <paramref name="len"/> ≤ 32 values (zero-padded to 32): scale = max|x| / 127, q = round(x · 127 / max|x|) half to even.</summary>
    internal static (float Scale, int Sum) QuantizeBlockScalar(float* x, int len, sbyte* q)
    {
        float amax = 0;
        for (int i = 0; i < len; i++) amax = MathF.Max(amax, MathF.Abs(x[i]));
        float inv = amax > 0 ? 127f / amax : 0f;
        int sum = 0;
        for (int i = 0; i < 32; i++)
        {
            int v = i < len ? (int)MathF.Round(x[i] * inv) : 0;
            q[i] = (sbyte)v;
            sum += v;
        }
        return (amax / 127f, sum);
    }

    /// <summary><see cref="QuantizeBlockScalar"/> for a whole block with AVX2 (vcvtps2dq rounds half to even): the same bytes.</summary>
    private static (float Scale, int Sum) QuantizeBlock256(float* x, sbyte* q)
    {
        var sign = Vector256.Create(-0.0f);
        Vector256<float> v0 = Avx.LoadVector256(x), v1 = Avx.LoadVector256(x + 8), v2 = Avx.LoadVector256(x + 16), v3 = Avx.LoadVector256(x + 24);
        var m = Avx.Max(Avx.Max(Avx.AndNot(sign, v0), Avx.AndNot(sign, v1)), Avx.Max(Avx.AndNot(sign, v2), Avx.AndNot(sign, v3)));
        var m4 = Sse.Max(m.GetLower(), m.GetUpper());
        m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b_01_00_11_10));
        m4 = Sse.Max(m4, Sse.Shuffle(m4, m4, 0b_10_11_00_01));
        float amax = m4.ToScalar();
        float inv = amax > 0 ? 127f / amax : 0f;
        var iv = Vector256.Create(inv);
        var q0 = Avx.ConvertToVector256Int32(Avx.Multiply(v0, iv));
        var q1 = Avx.ConvertToVector256Int32(Avx.Multiply(v1, iv));
        var q2 = Avx.ConvertToVector256Int32(Avx.Multiply(v2, iv));
        var q3 = Avx.ConvertToVector256Int32(Avx.Multiply(v3, iv));
        int sum = Vector256.Sum(q0 + q1 + q2 + q3);
        var bytes = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(q0, q1), Avx2.PackSignedSaturate(q2, q3));
        var ordered = Avx2.PermuteVar8x32(bytes.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7));
        ordered.AsSByte().Store(q);
        return (amax / 127f, sum);
    }
}
