using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>
/// Softmax cross-entropy loss and gradient w·(softmax − one-hot) of (n, V) float32 or bfloat16 logits, written over the
/// logits in place, three passes per row (max, Σ exp, write) in float32 SIMD: the row-wise fused cross-entropy of
/// Liger-Kernel (Hsu et al. 2024) on CPU, replacing LibTorch's float32 copy + log_softmax + gather + exp + scatter + mul + copy.
/// Vector512, Vector256 or scalar as <see cref="SimdPaths"/> says; the scalar path is the reference.
/// </summary>
public static unsafe class SoftmaxCrossEntropyKernel
{
    /// <summary>Logits per unit of work handed to a thread (whole rows): small enough that a thread the OS delays holds up little.</summary>
    private const int BlockElements = 1 << 18;

    // One row of exp(x − max) per thread, written by pass 2 and scaled by pass 3: 2048 × 50304 bf16 took 46 ms on one
    // thread this way against 80 ms recomputing the exps in pass 3.
    [ThreadStatic] private static float[]? _exps;

    /// <summary>
    /// Returns Σᵢ wᵢ·(logsumexp(xᵢ) − xᵢ[tᵢ]) over the rows xᵢ of <paramref name="logits"/> (n, V) and overwrites each row
    /// with wᵢ·(softmax(xᵢ) − onehot(tᵢ)) in the logits' dtype (bf16 rounded to nearest even). <paramref name="targets"/> (n)
    /// Int64 in [0, V), <paramref name="rowWeights"/> (n) float32; a row of weight 0 becomes zeros and adds nothing.
    /// Elements are float32 (exp from <see cref="SimdMath"/>: subnormal below ~1.2e-38, 0 below ~1.4e-45), each row's loss
    /// and the total are double. Blocks of rows are shared among torch.get_num_threads() threads; the result does not
    /// depend on the thread count.
    /// </summary>
    public static double LossAndGradientInPlace(Tensor logits, Tensor targets, Tensor rowWeights)
    {
        Validate(logits, targets, rowWeights);
        int n = (int)logits.shape[0], v = (int)logits.shape[1];
        if (n == 0) return 0;
        long* t = (long*)Data(targets);
        float* w = (float*)Data(rowWeights);
        for (int i = 0; i < n; i++)
            if ((ulong)t[i] >= (ulong)v)
                throw new ArgumentException($"targets[{i}] = {t[i]} is outside the vocabulary [0, {v})", nameof(targets));
        void* x = Data(logits);
        bool bf16 = logits.dtype == ScalarType.BFloat16;
        var path = SimdPaths.Current;

        int rowsPerBlock = Math.Max(1, BlockElements / v), blocks = (n + rowsPerBlock - 1) / rowsPerBlock;
        var partial = new double[blocks];                                   // per block, summed in order: same for any thread count
        KernelThreads.For((long)n * v, blocks, b =>
        {
            int r0 = (int)b * rowsPerBlock, r1 = Math.Min(n, r0 + rowsPerBlock);
            partial[b] = bf16 ? Rows((ushort*)x, t, w, v, r0, r1, path) : Rows((float*)x, t, w, v, r0, r1, path);
        });
        return partial.Sum();
    }

    private static void Validate(Tensor logits, Tensor targets, Tensor rowWeights)
    {
        if (logits.dim() != 2) throw new ArgumentException($"logits must be (n, V); got shape [{string.Join(", ", logits.shape)}]", nameof(logits));
        if (logits.dtype is not (ScalarType.Float32 or ScalarType.BFloat16)) throw new ArgumentException($"logits must be Float32 or BFloat16; got {logits.dtype}", nameof(logits));
        if (logits.shape[1] is < 1 or > int.MaxValue || logits.shape[0] > int.MaxValue) throw new ArgumentException($"logits shape [{string.Join(", ", logits.shape)}] is out of range", nameof(logits));
        if (logits.requires_grad) throw new ArgumentException("logits are overwritten in place and must not require grad (pass a detached tensor)", nameof(logits));
        long n = logits.shape[0];
        if (targets.dim() != 1 || targets.shape[0] != n) throw new ArgumentException($"targets must be ({n}); got shape [{string.Join(", ", targets.shape)}]", nameof(targets));
        if (targets.dtype != ScalarType.Int64) throw new ArgumentException($"targets must be Int64; got {targets.dtype}", nameof(targets));
        if (rowWeights.dim() != 1 || rowWeights.shape[0] != n) throw new ArgumentException($"rowWeights must be ({n}); got shape [{string.Join(", ", rowWeights.shape)}]", nameof(rowWeights));
        if (rowWeights.dtype != ScalarType.Float32) throw new ArgumentException($"rowWeights must be Float32; got {rowWeights.dtype}", nameof(rowWeights));
        foreach (var (tensor, name) in new[] { (logits, nameof(logits)), (targets, nameof(targets)), (rowWeights, nameof(rowWeights)) })
        {
            if (tensor.device_type != DeviceType.CPU) throw new ArgumentException($"{name} must be on the CPU; got {tensor.device}", name);
            if (!tensor.is_contiguous()) throw new ArgumentException($"{name} must be contiguous", name);
        }
    }

    /// <summary>Address of the first element of a contiguous CPU tensor (through a one-element view: Tensor.bytes stops at 2 GB).</summary>
    private static void* Data(Tensor t) => TensorData.Pointer(t);

    /// <summary>Rows [r0, r1) of x (T = float, or ushort holding bf16 bits) on <paramref name="path"/>; returns their loss share.</summary>
    /// <remarks>The three row passes are kept out of line: inlined here, the JIT's code for them ran ~15% slower (measured).</remarks>
    private static double Rows<T>(T* x, long* targets, float* weights, int v, int r0, int r1, SimdPath path) where T : unmanaged
    {
        if (_exps is null || _exps.Length < v) _exps = GC.AllocateUninitializedArray<float>(v, pinned: true);
        float* exps = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_exps));   // pinned array
        double loss = 0;
        for (int r = r0; r < r1; r++)
        {
            T* row = x + (long)r * v;
            float w = weights[r];
            if (w == 0) { new Span<T>(row, v).Clear(); continue; }
            int target = (int)targets[r];
            float xt = Load(row + target);
            float max = RowMax(row, v, path);
            float sum = RowSumExp(row, v, max, exps, path);
            float scale = w / sum;
            RowWrite(row, v, scale, exps, path);
            Store(row + target, scale * exps[target] - w);
            loss += w * (max + Math.Log(sum) - xt);
        }
        return loss;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float RowMax<T>(T* x, int v, SimdPath path) where T : unmanaged
    {
        int i = 0;
        float max = float.NegativeInfinity;
        if (SimdPaths.Is512(path))
        {
            Vector512<float> m0 = Vector512.Create(float.NegativeInfinity), m1 = m0;
            for (; i + 32 <= v; i += 32) { m0 = Vector512.MaxNative(m0, Load512(x + i)); m1 = Vector512.MaxNative(m1, Load512(x + i + 16)); }
            for (; i + 16 <= v; i += 16) m0 = Vector512.MaxNative(m0, Load512(x + i));
            m0 = Vector512.MaxNative(m0, m1);
            for (int j = 0; j < Vector512<float>.Count; j++) max = MathF.Max(max, m0[j]);
        }
        else if (SimdPaths.Is256(path))
        {
            Vector256<float> m0 = Vector256.Create(float.NegativeInfinity), m1 = m0;
            for (; i + 16 <= v; i += 16) { m0 = Vector256.MaxNative(m0, Load256(x + i)); m1 = Vector256.MaxNative(m1, Load256(x + i + 8)); }
            for (; i + 8 <= v; i += 8) m0 = Vector256.MaxNative(m0, Load256(x + i));
            m0 = Vector256.MaxNative(m0, m1);
            for (int j = 0; j < Vector256<float>.Count; j++) max = MathF.Max(max, m0[j]);
        }
        for (; i < v; i++) max = MathF.Max(max, Load(x + i));
        return max;
    }

    /// <summary>
    /// Σ exp(x − max) (float32 lanes, two accumulators each; the tail in double; the Scalar path, the reference, all in
    /// double), storing each exp in <paramref name="exps"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float RowSumExp<T>(T* x, int v, float max, float* exps, SimdPath path) where T : unmanaged
    {
        int i = 0;
        double sum = 0;
        if (SimdPaths.Is512(path))
        {
            var m = Vector512.Create(max);
            Vector512<float> s0 = default, s1 = default;
            for (; i + 32 <= v; i += 32)
            {
                var e0 = SimdMath.ExpOfNonPositive(Load512(x + i) - m);
                var e1 = SimdMath.ExpOfNonPositive(Load512(x + i + 16) - m);
                e0.Store(exps + i);
                e1.Store(exps + i + 16);
                s0 += e0;
                s1 += e1;
            }
            for (; i + 16 <= v; i += 16) { var e = SimdMath.ExpOfNonPositive(Load512(x + i) - m); e.Store(exps + i); s0 += e; }
            sum = Vector512.Sum(s0 + s1);
        }
        else if (SimdPaths.Is256(path))
        {
            var m = Vector256.Create(max);
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= v; i += 16)
            {
                var e0 = SimdMath.ExpOfNonPositive(Load256(x + i) - m);
                var e1 = SimdMath.ExpOfNonPositive(Load256(x + i + 8) - m);
                e0.Store(exps + i);
                e1.Store(exps + i + 8);
                s0 += e0;
                s1 += e1;
            }
            for (; i + 8 <= v; i += 8) { var e = SimdMath.ExpOfNonPositive(Load256(x + i) - m); e.Store(exps + i); s0 += e; }
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < v; i++) sum += exps[i] = SimdMath.ExpOfNonPositive(Load(x + i) - max);
        return (float)sum;
    }

    /// <summary>x = scale·exps over the row.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RowWrite<T>(T* x, int v, float scale, float* exps, SimdPath path) where T : unmanaged
    {
        int i = 0;
        if (SimdPaths.Is512(path))
        {
            var s = Vector512.Create(scale);
            for (; i + 16 <= v; i += 16) Store512(x + i, Vector512.Load(exps + i) * s);
        }
        else if (SimdPaths.Is256(path))
        {
            var s = Vector256.Create(scale);
            for (; i + 8 <= v; i += 8) Store256(x + i, Vector256.Load(exps + i) * s);
        }
        for (; i < v; i++) Store(x + i, exps[i] * scale);
    }

    // ---- loads and stores of float, or of bf16 held as ushort bits (SimdMath: exact widening, round to nearest even) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load512<T>(T* p) where T : unmanaged =>
        typeof(T) == typeof(float) ? Vector512.Load((float*)p) : SimdMath.LoadBf16x16((ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Load256<T>(T* p) where T : unmanaged =>
        typeof(T) == typeof(float) ? Vector256.Load((float*)p) : SimdMath.LoadBf16x8((ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Load<T>(T* p) where T : unmanaged =>
        typeof(T) == typeof(float) ? *(float*)p : SimdMath.FromBf16(*(ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512<T>(T* p, Vector512<float> g) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) g.Store((float*)p);
        else SimdMath.StoreBf16(g, (ushort*)p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256<T>(T* p, Vector256<float> g) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) g.Store((float*)p);
        else SimdMath.StoreBf16(g, (ushort*)p);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(T* p, float g) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) *(float*)p = g;
        else *(ushort*)p = SimdMath.ToBf16(g);
    }
}
