using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpSeek.Kernels;

// int8 weights (one scale per output row): y[t, r] = scale_r · Σ_b scale_x[t, b] · Σ_k∈b w[r, k]·q_x[t, k] + bias[r].
public static unsafe partial class QuantizedGemm
{
    // Vector paths: one int32 lane sums 4 adjacent columns, so the lanes of a 32-column block carry that block's x scale
    // (Scale8: 8 copies per block). Columns past the last whole vector go through Int8Tail.

    private static void Int8Rows512<TDot>(sbyte* w, float* scales, RowRange k) where TDot : struct, IDot
    {
        var x = k.X;
        int cols = k.Cols, chunks = cols / 64, body = chunks * 64;
        for (int r = k.R0; r < k.R1; r++)
        {
            sbyte* wr = w + (long)r * cols;
            int t = 0;
            for (; t + 4 <= x.N; t += 4)
            {
                sbyte* x0 = x.Q(t), x1 = x.Q(t + 1), x2 = x.Q(t + 2), x3 = x.Q(t + 3);
                float* s0 = x.Scale8(t), s1 = x.Scale8(t + 1), s2 = x.Scale8(t + 2), s3 = x.Scale8(t + 3);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int c = 0; c < chunks; c++)
                {
                    var wv = Vector512.Load(wr + 64 * c);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(TDot.DotS8(wv, Vector512.Load(x0 + 64 * c))), Vector512.Load(s0 + 16 * c), a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(TDot.DotS8(wv, Vector512.Load(x1 + 64 * c))), Vector512.Load(s1 + 16 * c), a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(TDot.DotS8(wv, Vector512.Load(x2 + 64 * c))), Vector512.Load(s2 + 16 * c), a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(TDot.DotS8(wv, Vector512.Load(x3 + 64 * c))), Vector512.Load(s3 + 16 * c), a3);
                }
                Int8Store<TDot>(k, scales, wr, r, t, Vector512.Sum(a0), body);
                Int8Store<TDot>(k, scales, wr, r, t + 1, Vector512.Sum(a1), body);
                Int8Store<TDot>(k, scales, wr, r, t + 2, Vector512.Sum(a2), body);
                Int8Store<TDot>(k, scales, wr, r, t + 3, Vector512.Sum(a3), body);
            }
            for (; t < x.N; t++)
            {
                sbyte* x0 = x.Q(t);
                float* s0 = x.Scale8(t);
                Vector512<float> a0 = default, a1 = default;
                int c = 0;
                for (; c + 2 <= chunks; c += 2)                                       // two independent chains
                {
                    a0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(TDot.DotS8(Vector512.Load(wr + 64 * c), Vector512.Load(x0 + 64 * c))), Vector512.Load(s0 + 16 * c), a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(TDot.DotS8(Vector512.Load(wr + 64 * c + 64), Vector512.Load(x0 + 64 * c + 64))), Vector512.Load(s0 + 16 * c + 16), a1);
                }
                if (c < chunks)
                    a0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(TDot.DotS8(Vector512.Load(wr + 64 * c), Vector512.Load(x0 + 64 * c))), Vector512.Load(s0 + 16 * c), a0);
                Int8Store<TDot>(k, scales, wr, r, t, Vector512.Sum(a0 + a1), body);
            }
        }
    }

    private static void Int8Rows256<TDot>(sbyte* w, float* scales, RowRange k) where TDot : struct, IDot
    {
        var x = k.X;
        int cols = k.Cols, chunks = cols / 32, body = chunks * 32;
        for (int r = k.R0; r < k.R1; r++)
        {
            sbyte* wr = w + (long)r * cols;
            int t = 0;
            for (; t + 4 <= x.N; t += 4)
            {
                sbyte* x0 = x.Q(t), x1 = x.Q(t + 1), x2 = x.Q(t + 2), x3 = x.Q(t + 3);
                float* s0 = x.Scale8(t), s1 = x.Scale8(t + 1), s2 = x.Scale8(t + 2), s3 = x.Scale8(t + 3);
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int c = 0; c < chunks; c++)
                {
                    var wv = Vector256.Load(wr + 32 * c);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(TDot.DotS8(wv, Vector256.Load(x0 + 32 * c))), Vector256.Load(s0 + 8 * c), a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(TDot.DotS8(wv, Vector256.Load(x1 + 32 * c))), Vector256.Load(s1 + 8 * c), a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(TDot.DotS8(wv, Vector256.Load(x2 + 32 * c))), Vector256.Load(s2 + 8 * c), a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(TDot.DotS8(wv, Vector256.Load(x3 + 32 * c))), Vector256.Load(s3 + 8 * c), a3);
                }
                Int8Store<TDot>(k, scales, wr, r, t, Vector256.Sum(a0), body);
                Int8Store<TDot>(k, scales, wr, r, t + 1, Vector256.Sum(a1), body);
                Int8Store<TDot>(k, scales, wr, r, t + 2, Vector256.Sum(a2), body);
                Int8Store<TDot>(k, scales, wr, r, t + 3, Vector256.Sum(a3), body);
            }
            for (; t < x.N; t++)
            {
                sbyte* x0 = x.Q(t);
                float* s0 = x.Scale8(t);
                Vector256<float> a0 = default, a1 = default;
                int c = 0;
                for (; c + 2 <= chunks; c += 2)
                {
                    a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(TDot.DotS8(Vector256.Load(wr + 32 * c), Vector256.Load(x0 + 32 * c))), Vector256.Load(s0 + 8 * c), a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(TDot.DotS8(Vector256.Load(wr + 32 * c + 32), Vector256.Load(x0 + 32 * c + 32))), Vector256.Load(s0 + 8 * c + 8), a1);
                }
                if (c < chunks)
                    a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(TDot.DotS8(Vector256.Load(wr + 32 * c), Vector256.Load(x0 + 32 * c))), Vector256.Load(s0 + 8 * c), a0);
                Int8Store<TDot>(k, scales, wr, r, t, Vector256.Sum(a0 + a1), body);
            }
        }
    }

    /// <summary>
    /// y[t, r] from the vector part's sum <paramref name="s"/>: adds the columns [<paramref name="body"/>, cols) (with the
    /// same + 128 offset as the VNNI dots), takes out 128·Σ_b scale_b·Σq_b under VNNI, applies the row scale and bias.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Int8Store<TDot>(RowRange k, float* scales, sbyte* wr, int r, int t, float s, int body) where TDot : struct, IDot
    {
        if (body < k.Cols) s += Int8Tail(wr, k.X, t, body, k.Cols, TDot.Vnni ? 128 : 0);
        if (TDot.Vnni) s -= 128f * k.X.Total(t);
        float v = scales[r] * s;
        k.Y[(long)t * k.Rows + r] = k.Bias != null ? v + k.Bias[r] : v;
    }

    /// <summary>Σ_b scale_b · Σ_k (w_k + <paramref name="offset"/>)·q_k over the columns [<paramref name="c0"/>, cols), c0 a multiple of 32.</summary>
    private static float Int8Tail(sbyte* wr, Activations8 x, int t, int c0, int cols, int offset)
    {
        sbyte* q = x.Q(t);
        float* bs = x.BlockScale(t);
        float s = 0;
        for (int b = c0 / 32; b * 32 < cols; b++)
        {
            int dot = 0;
            for (int c = b * 32; c < Math.Min(cols, b * 32 + 32); c++) dot += (wr[c] + offset) * q[c];
            s += bs[b] * dot;
        }
        return s;
    }

    /// <summary>The reference: each block's integer dot exact, the scaled blocks summed in double.</summary>
    private static void Int8RowsScalar(sbyte* w, float* scales, RowRange k)
    {
        var x = k.X;
        int cols = k.Cols;
        for (int r = k.R0; r < k.R1; r++)
        {
            sbyte* wr = w + (long)r * cols;
            for (int t = 0; t < x.N; t++)
            {
                sbyte* q = x.Q(t);
                float* bs = x.BlockScale(t);
                double s = 0;
                for (int b = 0; b * 32 < cols; b++)
                {
                    int dot = 0;
                    for (int c = b * 32; c < Math.Min(cols, b * 32 + 32); c++) dot += wr[c] * q[c];
                    s += (double)bs[b] * dot;
                }
                s *= scales[r];
                if (k.Bias != null) s += k.Bias[r];
                k.Y[(long)t * k.Rows + r] = (float)s;
            }
        }
    }
}
