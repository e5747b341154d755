using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace SharpSeek.Bench.Decode;

/// <summary>
/// Prototype for the profile: y = W·x + b for one token (W (out, in) row-major fp32, the nn.Linear layout), rows
/// split over threads, 4 rows per pass sharing the x loads, Vector512 FMAs. Memory-bound like the read benchmark.
/// </summary>
public static unsafe class CSharpGemv
{
    public static float* Ptr(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    public static Tensor Linear(Tensor x, Tensor w, Tensor? b, int threads)
    {
        int rows = (int)w.shape[0], cols = (int)w.shape[1];
        var y = empty(rows);
        float* wp = Ptr(w), xp = Ptr(x), yp = Ptr(y), bp = b is null ? null : Ptr(b);
        if (threads <= 1) Rows(wp, xp, yp, bp, cols, 0, rows);
        else
        {
            int chunk = (rows / threads + 3) / 4 * 4;
            Parallel.For(0, threads, t =>
            {
                int r0 = t * chunk, r1 = Math.Min(rows, r0 + chunk);
                if (r0 < r1) Rows(wp, xp, yp, bp, cols, r0, r1);
            });
        }
        return y;
    }

    private static void Rows(float* w, float* x, float* y, float* b, int cols, int r0, int r1)
    {
        int r = r0;
        for (; r + 4 <= r1; r += 4)
        {
            float* w0 = w + (long)r * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int i = 0;
            for (; i + 16 <= cols; i += 16)
            {
                var xv = Vector512.Load(x + i);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + i), xv, a0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w1 + i), xv, a1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w2 + i), xv, a2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w3 + i), xv, a3);
            }
            float s0 = Vector512.Sum(a0), s1 = Vector512.Sum(a1), s2 = Vector512.Sum(a2), s3 = Vector512.Sum(a3);
            for (; i < cols; i++) { s0 += w0[i] * x[i]; s1 += w1[i] * x[i]; s2 += w2[i] * x[i]; s3 += w3[i] * x[i]; }
            if (b != null) { s0 += b[r]; s1 += b[r + 1]; s2 += b[r + 2]; s3 += b[r + 3]; }
            y[r] = s0; y[r + 1] = s1; y[r + 2] = s2; y[r + 3] = s3;
        }
        for (; r < r1; r++)
        {
            float s = b != null ? b[r] : 0f;
            float* wr = w + (long)r * cols;
            for (int i = 0; i < cols; i++) s += wr[i] * x[i];
            y[r] = s;
        }
    }
}
