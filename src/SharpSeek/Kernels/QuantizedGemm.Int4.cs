using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SharpSeek.Kernels;

// int4 weights: y[t, r] = Σ_b scale_w[r, g(b)] · scale_x[t, b] · Σ_k∈b (u[r, k] − zero[r, g(b)])·q_x[t, k] + bias[r],
// computed as Σ_b scale_w·scale_x·Σ u·q_x − Σ_g scale_w[g]·zero[g]·(Σ_b∈g scale_x·Σ q_x): the zero point leaves the inner loop.
public static unsafe partial class QuantizedGemm
{
    // Vector paths: 64 weight bytes = one 128-column super-block (4 blocks of 32). Low nibbles are columns 0-15 of each
    // block, high nibbles 16-31, so x is stored reordered (Activations8) to meet them; an int32 lane then sums 4 columns of
    // one block: lanes 4b … 4b + 3 belong to block b (Scale4: 4 copies of its x scale). Columns past the last whole
    // super-block go through Int4Tail.

    private static void Int4Rows512<TDot, TGroup>(byte* w, float* scales, byte* zeros, RowRange k)
        where TDot : struct, IDot where TGroup : struct, IGroup
    {
        var x = k.X;
        int cols = k.Cols, half = cols / 2, groups = x.Groups, supers = cols / 128, body = supers * 128;
        bool sym = zeros == null;                                                     // zero 8 taken out per lane (Lanes8)
        var low = Vector512.Create((byte)0x0F);
        for (int r = k.R0; r < k.R1; r++)
        {
            byte* wr = w + (long)r * half;
            float* ws = scales + (long)r * groups;
            byte* z = zeros == null ? null : zeros + (long)r * groups;
            int t = 0;
            for (; t + 4 <= x.N; t += 4)
            {
                sbyte* x0 = x.Q(t), x1 = x.Q(t + 1), x2 = x.Q(t + 2), x3 = x.Q(t + 3);
                float* s0 = x.Scale4(t), s1 = x.Scale4(t + 1), s2 = x.Scale4(t + 2), s3 = x.Scale4(t + 3);
                int* l0 = x.Lanes8(t), l1 = x.Lanes8(t + 1), l2 = x.Lanes8(t + 2), l3 = x.Lanes8(t + 3);
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int s = 0; s < supers; s++)
                {
                    var v = Vector512.Load(wr + 64 * s);
                    var lo = v & low;
                    var hi = Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low;
                    var sc = TGroup.Scales512(ws, s);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Centered(TDot.Dot2(lo, Vector512.Load(x0 + 128 * s), hi, Vector512.Load(x0 + 128 * s + 64)), sym, l0 + 16 * s)), sc * Vector512.Load(s0 + 16 * s), a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Centered(TDot.Dot2(lo, Vector512.Load(x1 + 128 * s), hi, Vector512.Load(x1 + 128 * s + 64)), sym, l1 + 16 * s)), sc * Vector512.Load(s1 + 16 * s), a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Centered(TDot.Dot2(lo, Vector512.Load(x2 + 128 * s), hi, Vector512.Load(x2 + 128 * s + 64)), sym, l2 + 16 * s)), sc * Vector512.Load(s2 + 16 * s), a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Centered(TDot.Dot2(lo, Vector512.Load(x3 + 128 * s), hi, Vector512.Load(x3 + 128 * s + 64)), sym, l3 + 16 * s)), sc * Vector512.Load(s3 + 16 * s), a3);
                }
                Int4Store(k, wr, ws, z, r, t, Vector512.Sum(a0), body);
                Int4Store(k, wr, ws, z, r, t + 1, Vector512.Sum(a1), body);
                Int4Store(k, wr, ws, z, r, t + 2, Vector512.Sum(a2), body);
                Int4Store(k, wr, ws, z, r, t + 3, Vector512.Sum(a3), body);
            }
            for (; t < x.N; t++)
            {
                sbyte* x0 = x.Q(t);
                float* s0 = x.Scale4(t);
                int* l0 = x.Lanes8(t);
                Vector512<float> a0 = default;
                for (int s = 0; s < supers; s++)
                {
                    var v = Vector512.Load(wr + 64 * s);
                    var lo = v & low;
                    var hi = Vector512.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low;
                    a0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Centered(TDot.Dot2(lo, Vector512.Load(x0 + 128 * s), hi, Vector512.Load(x0 + 128 * s + 64)), sym, l0 + 16 * s)),
                        TGroup.Scales512(ws, s) * Vector512.Load(s0 + 16 * s), a0);
                }
                Int4Store(k, wr, ws, z, r, t, Vector512.Sum(a0), body);
            }
        }
    }

    private static void Int4Rows256<TDot, TGroup>(byte* w, float* scales, byte* zeros, RowRange k)
        where TDot : struct, IDot where TGroup : struct, IGroup
    {
        var x = k.X;
        int cols = k.Cols, half = cols / 2, groups = x.Groups, supers = cols / 128, body = supers * 128;
        bool sym = zeros == null;                                                     // zero 8 taken out per lane (Lanes8)
        var low = Vector256.Create((byte)0x0F);
        for (int r = k.R0; r < k.R1; r++)
        {
            byte* wr = w + (long)r * half;
            float* ws = scales + (long)r * groups;
            byte* z = zeros == null ? null : zeros + (long)r * groups;
            int t = 0;
            for (; t + 4 <= x.N; t += 4)
            {
                sbyte* x0 = x.Q(t), x1 = x.Q(t + 1), x2 = x.Q(t + 2), x3 = x.Q(t + 3);
                float* s0 = x.Scale4(t), s1 = x.Scale4(t + 1), s2 = x.Scale4(t + 2), s3 = x.Scale4(t + 3);
                int* l0 = x.Lanes8(t), l1 = x.Lanes8(t + 1), l2 = x.Lanes8(t + 2), l3 = x.Lanes8(t + 3);
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int s = 0; s < supers; s++)
                {
                    for (int h = 0; h < 2; h++)
                    {
                        var v = Vector256.Load(wr + 64 * s + 32 * h);
                        var lo = v & low;
                        var hi = Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low;
                        var sc = TGroup.Scales256(ws, s, h);
                        int xo = 128 * s + 32 * h, so = 16 * s + 8 * h;
                        a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Centered(TDot.Dot2(lo, Vector256.Load(x0 + xo), hi, Vector256.Load(x0 + xo + 64)), sym, l0 + so)), sc * Vector256.Load(s0 + so), a0);
                        a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Centered(TDot.Dot2(lo, Vector256.Load(x1 + xo), hi, Vector256.Load(x1 + xo + 64)), sym, l1 + so)), sc * Vector256.Load(s1 + so), a1);
                        a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Centered(TDot.Dot2(lo, Vector256.Load(x2 + xo), hi, Vector256.Load(x2 + xo + 64)), sym, l2 + so)), sc * Vector256.Load(s2 + so), a2);
                        a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Centered(TDot.Dot2(lo, Vector256.Load(x3 + xo), hi, Vector256.Load(x3 + xo + 64)), sym, l3 + so)), sc * Vector256.Load(s3 + so), a3);
                    }
                }
                Int4Store(k, wr, ws, z, r, t, Vector256.Sum(a0), body);
                Int4Store(k, wr, ws, z, r, t + 1, Vector256.Sum(a1), body);
                Int4Store(k, wr, ws, z, r, t + 2, Vector256.Sum(a2), body);
                Int4Store(k, wr, ws, z, r, t + 3, Vector256.Sum(a3), body);
            }
            for (; t < x.N; t++)
            {
                sbyte* x0 = x.Q(t);
                float* s0 = x.Scale4(t);
                int* l0 = x.Lanes8(t);
                Vector256<float> a0 = default, a1 = default;
                for (int s = 0; s < supers; s++)
                {
                    var v = Vector256.Load(wr + 64 * s);
                    var lo = v & low;
                    var hi = Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low;
                    a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Centered(TDot.Dot2(lo, Vector256.Load(x0 + 128 * s), hi, Vector256.Load(x0 + 128 * s + 64)), sym, l0 + 16 * s)),
                        TGroup.Scales256(ws, s, 0) * Vector256.Load(s0 + 16 * s), a0);
                    v = Vector256.Load(wr + 64 * s + 32);
                    lo = v & low;
                    hi = Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & low;
                    a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Centered(TDot.Dot2(lo, Vector256.Load(x0 + 128 * s + 32), hi, Vector256.Load(x0 + 128 * s + 96)), sym, l0 + 16 * s + 8)),
                        TGroup.Scales256(ws, s, 1) * Vector256.Load(s0 + 16 * s + 8), a1);
                }
                Int4Store(k, wr, ws, z, r, t, Vector256.Sum(a0 + a1), body);
            }
        }
    }

    /// <summary>Symmetric weights: the integer dot minus its lanes' 8 · Σq (<paramref name="lanes"/>), i.e. Σ (u − 8)·q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Centered(Vector512<int> d, bool sym, int* lanes) => sym ? d - Vector512.Load(lanes) : d;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Centered(Vector256<int> d, bool sym, int* lanes) => sym ? d - Vector256.Load(lanes) : d;

    /// <summary>
    /// y[t, r] from the vector part's sum <paramref name="s"/>: adds the tail blocks (symmetric: already centred, like the
    /// vector part), takes out the zero points of asymmetric weights, adds the bias.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Int4Store(RowRange k, byte* wr, float* ws, byte* z, int r, int t, float s, int body)
    {
        var x = k.X;
        if (body < k.Cols) s += Int4Tail(wr, ws, x, t, body, k.Cols, z == null ? 8 : 0);
        if (z != null) s -= ZeroTerm(ws, z, x.GroupSums(t), x.Groups);
        k.Y[(long)t * k.Rows + r] = k.Bias != null ? s + k.Bias[r] : s;
    }

    /// <summary>Σ_g scale_w[g] · zero[g] · Σ_b∈g scale_x·Σ q_x (zero = 8 when <paramref name="z"/> is null).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ZeroTerm(float* ws, byte* z, float* groupSums, int groups)
    {
        int g = 0;
        float s = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc = Vector256<float>.Zero;
            if (z == null)
            {
                for (; g + 8 <= groups; g += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(ws + g), Vector256.Load(groupSums + g), acc);
                s = 8f * Vector256.Sum(acc);
            }
            else
            {
                for (; g + 8 <= groups; g += 8)
                {
                    var zf = Vector256.ConvertToSingle(Vector256.WidenLower(Vector128.WidenLower(Vector128.CreateScalarUnsafe(*(ulong*)(z + g)).AsByte()).AsInt16().ToVector256Unsafe()).AsInt32());
                    acc = Vector256.FusedMultiplyAdd(Vector256.Load(ws + g) * zf, Vector256.Load(groupSums + g), acc);
                }
                s = Vector256.Sum(acc);
            }
        }
        for (; g < groups; g++) s += ws[g] * (z == null ? 8 : z[g]) * groupSums[g];
        return s;
    }

    /// <summary>Σ_b scale_w·scale_x·Σ_k (u_k − <paramref name="zero"/>)·q_k over the blocks from column <paramref name="c0"/> (x in natural order there).</summary>
    private static float Int4Tail(byte* wr, float* ws, Activations8 x, int t, int c0, int cols, int zero)
    {
        sbyte* q = x.Q(t);
        float* bs = x.BlockScale(t);
        float s = 0;
        for (int b = c0 / 32; b * 32 < cols; b++)
        {
            byte* p = wr + b * 16;
            sbyte* qb = q + b * 32;
            int dot = 0;
            for (int i = 0; i < 16; i++) dot += ((p[i] & 15) - zero) * qb[i] + ((p[i] >> 4) - zero) * qb[i + 16];
            s += ws[b * 32 / x.GroupSize] * bs[b] * dot;
        }
        return s;
    }

    /// <summary>The reference: Σ_k (u_k − zero)·q_k exact per block, the scaled blocks summed in double.</summary>
    private static void Int4RowsScalar(byte* w, float* scales, byte* zeros, int groupSize, RowRange k)
    {
        var x = k.X;
        int cols = k.Cols, groups = cols / groupSize;
        for (int r = k.R0; r < k.R1; r++)
        {
            byte* wr = w + (long)r * (cols / 2);
            for (int t = 0; t < x.N; t++)
            {
                sbyte* q = x.Q(t);
                float* bs = x.BlockScale(t);
                double s = 0;
                for (int b = 0; b * 32 < cols; b++)
                {
                    int g = b * 32 / groupSize;
                    int zero = zeros == null ? 8 : zeros[(long)r * groups + g];
                    int dot = 0;
                    for (int i = 0; i < 16; i++)
                        dot += ((wr[b * 16 + i] & 15) - zero) * q[b * 32 + i] + ((wr[b * 16 + i] >> 4) - zero) * q[b * 32 + i + 16];
                    s += (double)scales[(long)r * groups + g] * bs[b] * dot;
                }
                if (k.Bias != null) s += k.Bias[r];
                k.Y[(long)t * k.Rows + r] = (float)s;
            }
        }
    }
}
