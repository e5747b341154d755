using System.Text;
using System.Runtime.Intrinsics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Kernels;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019, decoupled weight decay) with the update of each parameter fused into one pass over
/// its weights, gradient and two moments (as PyTorch's <c>fused=True</c>): TorchSharp's <see cref="AdamW"/> runs about ten
/// whole-tensor ops per parameter. Same state, options and <c>save_state_dict</c> format as <see cref="AdamW"/>, same
/// arithmetic in float32; anything it cannot fuse (non-float32 or non-CPU tensors, amsgrad, maximize) goes to <see cref="AdamW"/>.
/// </summary>
public sealed unsafe class FusedAdamW : AdamW
{
    public FusedAdamW(IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weightDecay)
        : base(groups, lr, beta1, beta2, eps, weightDecay) { }

    /// <summary>
    /// Loads optimizer state saved by this class or by TorchSharp's <see cref="AdamW"/>: the files are the same but for the
    /// optimizer's type name at their start, which <c>load_state_dict</c> insists on; checkpoints written before the
    /// fused step resume with it.
    /// </summary>
    public void LoadStateFrom(string path)
    {
        using var file = File.OpenRead(path);
        using var reader = new BinaryReader(file, Encoding.UTF8, leaveOpen: true);
        string saved = reader.ReadString();
        if (saved is not (nameof(AdamW) or nameof(FusedAdamW)))
            throw new InvalidDataException($"{path}: optimizer state of '{saved}', not AdamW");
        using var renamed = new MemoryStream();
        using (var writer = new BinaryWriter(renamed, Encoding.UTF8, leaveOpen: true)) writer.Write(GetType().Name);
        file.CopyTo(renamed);
        renamed.Position = 0;
        using var renamedReader = new BinaryReader(renamed);
        load_state_dict(renamedReader);
    }

    public override Tensor step(Func<Tensor>? closure = null)
    {
        if (!CanFuse()) return base.step(closure!);
        Tensor? loss = null;
        if (closure is not null) using (enable_grad()) loss = closure();
        using var _ = no_grad();
        foreach (var group in Groups)
        {
            var o = (Options)group.Options;
            double lr = o.LearningRate!.Value, b1 = o.beta1!.Value, b2 = o.beta2!.Value;
            foreach (var param in group.Parameters)
            {
                var grad = param.grad;
                if (grad is null) continue;
                var state = (State)_state[param.Handle];
                state.step += 1;
                var k = new Coefficients
                {
                    Decay = (float)(1 - lr * o.weight_decay!.Value),
                    Beta1 = (float)b1, OneMinusBeta1 = (float)(1 - b1),
                    Beta2 = (float)b2, OneMinusBeta2 = (float)(1 - b2),
                    InvSqrtCorrection2 = (float)(1 / Math.Sqrt(1 - Math.Pow(b2, state.step))),
                    Eps = (float)o.eps!.Value,
                    StepSize = (float)(lr / (1 - Math.Pow(b1, state.step))),
                };
                Update(param, grad.is_contiguous() ? grad : grad.contiguous(), state.exp_avg, state.exp_avg_sq, k);
            }
        }
        return loss!;
    }

    private IEnumerable<TorchSharp.Modules.ParamGroup> Groups => ParamGroups.Cast<TorchSharp.Modules.ParamGroup>();

    // Weights and moments are updated in place, so they must be contiguous; the gradient is made contiguous if needed.
    private bool CanFuse() => Groups.All(g =>
        g.Options is Options { amsgrad: not true, maximize: not true }
        && g.Parameters.All(p => p.grad is null || (_state[p.Handle] is State s && Float32Cpu(p.grad)
                                                      && new[] { p, s.exp_avg, s.exp_avg_sq }.All(t => Float32Cpu(t) && t.is_contiguous()))));

    private static bool Float32Cpu(Tensor? t) => t is not null && t.device_type == DeviceType.CPU && t.dtype == ScalarType.Float32;

    private struct Coefficients
    {
        public float Decay, Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, InvSqrtCorrection2, Eps, StepSize;
    }

    private static void Update(Tensor param, Tensor grad, Tensor m, Tensor v, Coefficients k)
    {
        long n = param.NumberOfElements;
        float* p = Ptr(param), g = Ptr(grad), mp = Ptr(m), vp = Ptr(v);
        var path = SimdPaths.Current;
        int threads = KernelThreads.Count(n);
        long chunk = ((n + threads - 1) / threads + 63) / 64 * 64;   // one contiguous share per thread: faster here than small blocks handed out
        KernelThreads.For(n, threads, t => Range(p, g, mp, vp, Math.Min(n, t * chunk), Math.Min(n, (t + 1) * chunk), k, path));
    }

    // Per element, in TorchSharp's AdamW order: p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
    // p ← p − (lr / (1 − β1ᵗ))·m / (√v / √(1 − β2ᵗ) + ε). Vector512, Vector256 or scalar as SimdPaths says: every path
    // does the same correctly rounded float32 operations in the same order (no fused multiply-add), so all three give
    // the same bits.
    private static void Range(float* p, float* g, float* m, float* v, long i0, long i1, Coefficients k, SimdPath path)
    {
        long i = i0;
        if (SimdPaths.Is512(path))
        {
            var decay = Vector512.Create(k.Decay); var b1 = Vector512.Create(k.Beta1); var c1 = Vector512.Create(k.OneMinusBeta1);
            var b2 = Vector512.Create(k.Beta2); var c2 = Vector512.Create(k.OneMinusBeta2);
            var inv = Vector512.Create(k.InvSqrtCorrection2); var eps = Vector512.Create(k.Eps); var step = Vector512.Create(k.StepSize);
            for (; i + 16 <= i1; i += 16)
            {
                var gv = Vector512.Load(g + i);
                var mv = Vector512.Load(m + i) * b1 + gv * c1;
                var vv = Vector512.Load(v + i) * b2 + gv * gv * c2;
                var pv = Vector512.Load(p + i) * decay;
                pv -= step * (mv / (Vector512.Sqrt(vv) * inv + eps));
                mv.Store(m + i); vv.Store(v + i); pv.Store(p + i);
            }
        }
        else if (SimdPaths.Is256(path))
        {
            var decay = Vector256.Create(k.Decay); var b1 = Vector256.Create(k.Beta1); var c1 = Vector256.Create(k.OneMinusBeta1);
            var b2 = Vector256.Create(k.Beta2); var c2 = Vector256.Create(k.OneMinusBeta2);
            var inv = Vector256.Create(k.InvSqrtCorrection2); var eps = Vector256.Create(k.Eps); var step = Vector256.Create(k.StepSize);
            for (; i + 8 <= i1; i += 8)
            {
                var gv = Vector256.Load(g + i);
                var mv = Vector256.Load(m + i) * b1 + gv * c1;
                var vv = Vector256.Load(v + i) * b2 + gv * gv * c2;
                var pv = Vector256.Load(p + i) * decay;
                pv -= step * (mv / (Vector256.Sqrt(vv) * inv + eps));
                mv.Store(m + i); vv.Store(v + i); pv.Store(p + i);
            }
        }
        for (; i < i1; i++)
        {
            float gi = g[i];
            float mi = m[i] * k.Beta1 + gi * k.OneMinusBeta1;
            float vi = v[i] * k.Beta2 + gi * gi * k.OneMinusBeta2;
            float pi = p[i] * k.Decay;
            p[i] = pi - k.StepSize * (mi / (MathF.Sqrt(vi) * k.InvSqrtCorrection2 + k.Eps));
            m[i] = mi; v[i] = vi;
        }
    }

    private static float* Ptr(Tensor t) => (float*)TensorData.Pointer(t);
}
