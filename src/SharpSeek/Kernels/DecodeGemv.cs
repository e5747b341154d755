using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>
/// Matrix-vector product for one-token decode steps: y = W·x + b with W in the nn.Linear layout (out, in), fp32, CPU,
/// no autograd. Batch-1 decode is bound by reading the weights once per token; LibTorch's MKL sgemm for one row
/// with this layout spent about 1.5× the CPU time of this loop (bench/run decode, profile). Rows are split in chunks
/// over up to torch.get_num_threads() threads (<see cref="DecodeThreads"/>), each row read in one sequential pass; Vector512, Vector256 or scalar as
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
            int chunk = ChunkRows(rows, cols, threads);
            DecodeThreads.For(threads, (rows + chunk - 1) / chunk, c =>
            {
                int r0 = c * chunk, r1 = Math.Min(rows, r0 + chunk);
                Rows(w, xp, yp, b, cols, r0, r1, path);
            });
        }
        return y;
    }

    /// <summary>
    /// Rows per work item: about 16 items per thread (a late thread takes fewer), at least 32 KiB of weights each (the cost of
    /// claiming an item stays negligible), a multiple of 4.
    /// </summary>
    internal static int ChunkRows(int rows, int cols, int threads)
    {
        int chunk = Math.Max((rows + 16 * threads - 1) / (16 * threads), (8192 + cols - 1) / Math.Max(cols, 1));
        return Math.Max(4, (chunk + 3) / 4 * 4);
    }

    private static float* Ptr(Tensor t) => (float*)TensorData.Pointer(t);

    private static void Rows(float* w, float* x, float* y, float* b, int cols, int r0, int r1, SimdPath path)
    {
        if (SimdPaths.Is512(path)) Rows512(w, x, y, b, cols, r0, r1);
        else if (SimdPaths.Is256(path)) Rows256(w, x, y, b, cols, r0, r1);
        else RowsScalar(w, x, y, b, cols, r0, r1);
    }

    // Vector paths: one row at a time, so the weights stream through memory in one sequential pass (the hardware
    // prefetcher's best case; four rows side by side were 10-30% slower for 384-wide rows, where each row is only 24 cache
    // lines). Per lane, four accumulators take the columns i ≡ lane (mod 4L) by fused multiply-adds, 4L columns per step,
    // then L at a time into the first; the accumulators are added, the lanes summed, then the column tail and the bias
    // added in float32.

    private static void Rows512(float* w, float* x, float* y, float* b, int cols, int r0, int r1)
    {
        int body = cols & ~15, wide = cols & ~63;
        for (int r = r0; r < r1; r++)
        {
            float* wr = w + (long)r * cols;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int i = 0;
            for (; i < wide; i += 64)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i), Vector512.Load(x + i), a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i + 16), Vector512.Load(x + i + 16), a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i + 32), Vector512.Load(x + i + 32), a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i + 48), Vector512.Load(x + i + 48), a3);
            }
            for (; i < body; i += 16) a0 = Vector512.FusedMultiplyAdd(Vector512.Load(wr + i), Vector512.Load(x + i), a0);
            y[r] = Finish(Vector512.Sum((a0 + a1) + (a2 + a3)), wr, x, body, cols, b, r);
        }
    }

    private static void Rows256(float* w, float* x, float* y, float* b, int cols, int r0, int r1)
    {
        int body = cols & ~7, wide = cols & ~31;
        for (int r = r0; r < r1; r++)
        {
            float* wr = w + (long)r * cols;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int i = 0;
            for (; i < wide; i += 32)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i), Vector256.Load(x + i), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i + 8), Vector256.Load(x + i + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i + 16), Vector256.Load(x + i + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i + 24), Vector256.Load(x + i + 24), a3);
            }
            for (; i < body; i += 8) a0 = Vector256.FusedMultiplyAdd(Vector256.Load(wr + i), Vector256.Load(x + i), a0);
            y[r] = Finish(Vector256.Sum((a0 + a1) + (a2 + a3)), wr, x, body, cols, b, r);
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
