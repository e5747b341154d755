using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>
/// Matrix-vector product for one-token decode steps: y = W·x + b with W in the nn.Linear layout (out, in), fp32, CPU,
/// no autograd. Batch-1 decode is bound by reading the weights once per token; LibTorch's MKL sgemm for one row
/// with this layout spent about 1.5× the CPU time of this loop (bench/run decode, profile). Rows are split over up to
/// torch.get_num_threads() threads, four rows per pass share the loads of x; Vector512, Vector256 or scalar as
/// <see cref="SimdPaths"/> says. The scalar path, the reference, sums in double and is ~30× slower than Vector512 here
/// (latency-bound): where it is only the CPU's default, not asked for, LibTorch's vectorized GEMV runs instead. Anything
/// else goes to LibTorch.
/// </summary>
public static unsafe class DecodeGemv
{
    /// <summary>nn.functional.linear(<paramref name="x"/>, <paramref name="weight"/>, <paramref name="bias"/>), fast for a single row.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null) =>
        CanUse(x, weight) ? Apply(x, weight, bias) : nn.functional.linear(x, weight, bias);

    // On a CPU without Vector256 (e.g. ARM64) LibTorch's GEMV beats the scalar loop, which then runs only when asked for.
    private static bool CanUse(Tensor x, Tensor weight) =>
        (SimdPaths.Current != SimdPath.Scalar || SimdPaths.IsExplicit)
        && x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32
        && weight.dim() == 2 && x.shape[^1] == weight.shape[1] && x.NumberOfElements == weight.shape[1]
        && weight.is_contiguous() && x.is_contiguous()
        && !(torch.is_grad_enabled() && (weight.requires_grad || x.requires_grad));

    private static Tensor Apply(Tensor x, Tensor weight, Tensor? bias)
    {
        int rows = (int)weight.shape[0], cols = (int)weight.shape[1];
        if (bias is not null && (!bias.is_contiguous() || bias.dtype != ScalarType.Float32 || bias.NumberOfElements != rows))
            return nn.functional.linear(x, weight, bias);
        long[] shape = [.. x.shape[..^1], rows];                              // (…, out)
        var y = torch.empty(shape, ScalarType.Float32, x.device);
        float* w = Ptr(weight), xp = Ptr(x), yp = Ptr(y), b = bias is null ? null : Ptr(bias);
        int threads = KernelThreads.Count((long)rows * cols);
        var path = SimdPaths.Current;
        if (threads == 1) Rows(w, xp, yp, b, cols, 0, rows, path);
        else
        {
            int chunk = (rows + threads - 1) / threads;
            chunk = (chunk + 3) / 4 * 4;
            Parallel.For(0, threads, t =>
            {
                int r0 = t * chunk, r1 = Math.Min(rows, r0 + chunk);
                if (r0 < r1) Rows(w, xp, yp, b, cols, r0, r1, path);
            });
        }
        return y;
    }

    private static float* Ptr(Tensor t) => (float*)TensorData.Pointer(t);

    private static void Rows(float* w, float* x, float* y, float* b, int cols, int r0, int r1, SimdPath path)
    {
        if (SimdPaths.Is512(path)) Rows512(w, x, y, b, cols, r0, r1);
        else if (SimdPaths.Is256(path)) Rows256(w, x, y, b, cols, r0, r1);
        else RowsScalar(w, x, y, b, cols, r0, r1);
    }

    // Vector paths: per lane, Σ over the columns i ≡ lane (mod 16 or 8) by fused multiply-adds, then the lanes summed,
    // then the column tail and the bias added in float32. Four rows per pass share the loads of x; the last r1 − r0 mod 4
    // rows go one by one.

    private static void Rows512(float* w, float* x, float* y, float* b, int cols, int r0, int r1)
    {
        int r = r0, body = cols & ~15;
        for (; r + 4 <= r1; r += 4)
        {
            float* w0 = w + (long)r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int i = 0; i < body; i += 16)
            {
                var xv = Vector512.Load(x + i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + i), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w1 + i), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w2 + i), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w3 + i), xv, a3);
            }
            y[r] = Finish(Vector512.Sum(a0), w0, x, body, cols, b, r);
            y[r + 1] = Finish(Vector512.Sum(a1), w1, x, body, cols, b, r + 1);
            y[r + 2] = Finish(Vector512.Sum(a2), w2, x, body, cols, b, r + 2);
            y[r + 3] = Finish(Vector512.Sum(a3), w3, x, body, cols, b, r + 3);
        }
        for (; r < r1; r++)
        {
            float* wr = w + (long)r * cols;
            Vector512<float> a = default;
            for (int i = 0; i < body; i += 16) a = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i), Vector512.Load(x + i), a);
            y[r] = Finish(Vector512.Sum(a), wr, x, body, cols, b, r);
        }
    }

    private static void Rows256(float* w, float* x, float* y, float* b, int cols, int r0, int r1)
    {
        int r = r0, body = cols & ~7;
        for (; r + 4 <= r1; r += 4)
        {
            float* w0 = w + (long)r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int i = 0; i < body; i += 8)
            {
                var xv = Vector256.Load(x + i);
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w0 + i), xv, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(w1 + i), xv, a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(w2 + i), xv, a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(w3 + i), xv, a3);
            }
            y[r] = Finish(Vector256.Sum(a0), w0, x, body, cols, b, r);
            y[r + 1] = Finish(Vector256.Sum(a1), w1, x, body, cols, b, r + 1);
            y[r + 2] = Finish(Vector256.Sum(a2), w2, x, body, cols, b, r + 2);
            y[r + 3] = Finish(Vector256.Sum(a3), w3, x, body, cols, b, r + 3);
        }
        for (; r < r1; r++)
        {
            float* wr = w + (long)r * cols;
            Vector256<float> a = default;
            for (int i = 0; i < body; i += 8) a = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i), Vector256.Load(x + i), a);
            y[r] = Finish(Vector256.Sum(a), wr, x, body, cols, b, r);
        }
    }

    /// <summary><paramref name="s"/> plus the row's columns [<paramref name="i"/>, cols) and its bias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish(float s, float* wr, float* x, int i, int cols, float* b, int r)
    {
        for (; i < cols; i++) s += wr[i] * x[i];
        return b != null ? s + b[r] : s;
    }

    /// <summary>The reference: each row's products summed in double (exact products, ~2^−53 per addition), rounded once.</summary>
    private static void RowsScalar(float* w, float* x, float* y, float* b, int cols, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            float* wr = w + (long)r * cols;
            double s = b != null ? b[r] : 0;
            for (int i = 0; i < cols; i++) s += (double)wr[i] * x[i];
            y[r] = (float)s;
        }
    }
}
