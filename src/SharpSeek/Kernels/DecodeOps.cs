using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>
/// The small operations of a one-token decode step on raw float32 rows: LayerNorm, residual add, attention of one query
/// over a KV cache. At batch 1 each LibTorch op costs 1-25 µs of dispatch for a few hundred floats of work (bench/run
/// decode-profile: ~30 ops per layer), so a model's decode fast path calls these instead. Vector512, Vector256 or scalar
/// as <see cref="SimdPaths"/> says; the scalar forms are the references.
/// </summary>
public static unsafe class DecodeOps
{
    [DllImport("LibTorchSharp", EntryPoint = "THSTensor_data")]
    private static extern void* THSTensorData(IntPtr handle);

    private static int _nativeAddress = 1;   // 0 once the direct call failed: TensorData.Pointer from then on

    /// <summary>Address of <paramref name="t"/>'s first element (storage offset included), CPU: ~50 ns, where <see cref="TensorData.Pointer"/> builds a view.</summary>
    public static float* Address(Tensor t)
    {
        if (Volatile.Read(ref _nativeAddress) == 1)
        {
            try { return (float*)THSTensorData(t.Handle); }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { Volatile.Write(ref _nativeAddress, 0); }
        }
        return (float*)TensorData.Pointer(t);
    }

    /// <summary><paramref name="t"/> itself when float32 and contiguous, else a float32 contiguous copy (<paramref name="t"/> disposed).</summary>
    public static Tensor Float32(Tensor t)
    {
        if (t.dtype == ScalarType.Float32 && t.is_contiguous()) return t;
        using (t) return t.to(ScalarType.Float32).contiguous();
    }

    /// <summary>
    /// LayerNorm of one row (Ba et al. 2016): y = (x − mean)/√(var + eps)·γ + β, biased variance, mean and variance
    /// accumulated in double. <paramref name="y"/> may be <paramref name="x"/>.
    /// </summary>
    public static void LayerNorm(float* x, float* gamma, float* beta, float* y, int n, double eps)
    {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += x[i];
        double mean = sum / n, sq = 0;
        for (int i = 0; i < n; i++) { double d = x[i] - mean; sq += d * d; }
        float inv = (float)(1.0 / Math.Sqrt(sq / n + eps)), m = (float)mean;
        for (int i = 0; i < n; i++) y[i] = (x[i] - m) * inv * gamma[i] + beta[i];
    }

    /// <summary>x += y over <paramref name="n"/> floats.</summary>
    public static void Add(float* x, float* y, int n)
    {
        int i = 0;
        var path = SimdPaths.Current;
        if (SimdPaths.Is512(path)) for (; i + 16 <= n; i += 16) (Vector512.Load(x + i) + Vector512.Load(y + i)).Store(x + i);
        else if (SimdPaths.Is256(path)) for (; i + 8 <= n; i += 8) (Vector256.Load(x + i) + Vector256.Load(y + i)).Store(x + i);
        for (; i < n; i++) x[i] += y[i];
    }

    /// <summary>max(x, 0) in place.</summary>
    public static void Relu(float* x, int n)
    {
        for (int i = 0; i < n; i++) x[i] = MathF.Max(x[i], 0f);
    }

    /// <summary>
    /// Scaled dot-product attention of one query over <paramref name="keys"/> cached positions (Vaswani et al. 2017):
    /// output = Σⱼ softmax(q·kⱼ·scale)ⱼ·vⱼ, with kⱼ = <paramref name="k"/> + j·d and vⱼ likewise (one head, rows of d floats).
    /// <paramref name="scores"/> holds <paramref name="keys"/> floats of scratch.
    /// </summary>
    public static void Attention(float* q, float* k, float* v, int keys, int d, float scale, float* scores, float* output)
    {
        var path = SimdPaths.Current;
        float max = float.NegativeInfinity;
        for (int j = 0; j < keys; j++)
        {
            float s = Dot(q, k + (long)j * d, d, path) * scale;
            scores[j] = s;
            if (s > max) max = s;
        }
        float sum = ExpShifted(scores, keys, max, path);
        float inv = 1f / sum;
        for (int i = 0; i < d; i++) output[i] = 0;
        for (int j = 0; j < keys; j++) Axpy(scores[j] * inv, v + (long)j * d, output, d, path);
    }

    /// <summary>sᵢ ← exp(sᵢ − max) for i &lt; n; returns Σ sᵢ.</summary>
    private static float ExpShifted(float* s, int n, float max, SimdPath path)
    {
        int j = 0;
        float sum = 0;
        if (SimdPaths.Is512(path))
        {
            var acc = Vector512<float>.Zero;
            var m = Vector512.Create(max);
            for (; j + 16 <= n; j += 16)
            {
                var e = SimdMath.ExpOfNonPositive(Vector512.Load(s + j) - m);
                e.Store(s + j);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        else if (SimdPaths.Is256(path))
        {
            var acc = Vector256<float>.Zero;
            var m = Vector256.Create(max);
            for (; j + 8 <= n; j += 8)
            {
                var e = SimdMath.ExpOfNonPositive(Vector256.Load(s + j) - m);
                e.Store(s + j);
                acc += e;
            }
            sum = Vector256.Sum(acc);
        }
        for (; j < n; j++) { s[j] = SimdMath.ExpOfNonPositive(s[j] - max); sum += s[j]; }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* a, float* b, int n, SimdPath path)
    {
        int i = 0;
        float s = 0;
        if (SimdPaths.Is512(path) && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; i + 16 <= n; i += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc);
            s = Vector512.Sum(acc);
        }
        else if (SimdPaths.Is256(path) && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= n; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
            s = Vector256.Sum(acc);
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>y += a·x over <paramref name="n"/> floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy(float a, float* x, float* y, int n, SimdPath path)
    {
        int i = 0;
        if (SimdPaths.Is512(path))
        {
            var av = Vector512.Create(a);
            for (; i + 16 <= n; i += 16) Vector512.FusedMultiplyAdd(av, Vector512.Load(x + i), Vector512.Load(y + i)).Store(y + i);
        }
        else if (SimdPaths.Is256(path))
        {
            var av = Vector256.Create(a);
            for (; i + 8 <= n; i += 8) Vector256.FusedMultiplyAdd(av, Vector256.Load(x + i), Vector256.Load(y + i)).Store(y + i);
        }
        for (; i < n; i++) y[i] += a * x[i];
    }
}
