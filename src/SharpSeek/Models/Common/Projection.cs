using SharpSeek.Kernels;
using SharpSeek.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// An additive term on a <see cref="Projection"/>'s output, the seam for low-rank adapters (LoRA, Hu et al. 2021:
/// y = W·x + b + B·A·x) and for any weight substitution: <see cref="EffectiveWeight"/> gives the dense weight that
/// paths reading the matrix itself (MLA's absorbed kv_b_proj, a fused head + loss) must use.
/// </summary>
public interface IProjectionAdapter
{
    /// <summary>The term added to the projection's output for input <paramref name="x"/> (…, in): (…, out).</summary>
    Tensor Forward(Tensor x);

    /// <summary>The dense (out, in) weight equivalent to base weight + this adapter (e.g. W + B·A).</summary>
    Tensor EffectiveWeight(Tensor baseWeight);
}

/// <summary>
/// Every linear layer of the models: y = x·Wᵀ + b with W (out, in), registered as <c>weight</c> and <c>bias</c> so
/// state-dict keys equal nn.Linear's (the Hugging Face names). It owns how the matmul runs: float32, the one-row decode
/// GEMV (<see cref="DecodeGemv"/>), or in <see cref="ComputeDType"/> (mixed precision, Micikevicius et al. 2018: input,
/// weight and bias cast, result left in the compute dtype, gradients back to the float32 master weights); and it is
/// the one place where an adapter (<see cref="Adapter"/>) or a quantized weight (<see cref="Quantize"/>) is substituted.
/// A quantized projection holds no float weight (the <c>weight</c> parameter is removed, so neither memory nor the
/// state dict keeps it): without autograd it runs <see cref="QuantizedGemm.Linear(Tensor, QuantizedWeight, Tensor?)"/>; when a gradient must reach its
/// input or bias (LoRA on a quantized base, QLoRA-style: Dettmers et al. 2023) it runs a plain linear over the
/// dequantized weight, a constant.
/// </summary>
public sealed class Projection : nn.Module<Tensor, Tensor>
{
    /// <summary>Largest dequantized matrix (elements) <see cref="Weight"/> keeps cached for a quantized projection (e.g. MLA's absorbed kv_b_proj, read every step).</summary>
    public const long DequantizedCacheLimit = 1L << 22;

    [ThreadStatic] private static int _deferDepth;

    private Parameter? weight;                 // (out, in); null for a view of another module's weight or when quantized
    private readonly Parameter? bias;          // (out)
    private readonly Func<Tensor>? _sharedWeight;
    private readonly Func<QuantizedWeight?>? _sharedQuantized;
    private readonly long _in, _out;
    private QuantizedWeight? _quantized;
    private Tensor? _dequantized;              // cached Dequantize() of a small quantized weight

    /// <summary>A new projection initialised as nn.Linear (Kaiming-uniform weight, uniform bias; the same random draws).</summary>
    public Projection(long inFeatures, long outFeatures, bool hasBias = true) : base(nameof(Projection))
    {
        _in = inFeatures; _out = outFeatures;
        // Inside DeferWeights the weight lives on the meta device: no memory, no values (a quantized loader replaces it).
        weight = nn.Parameter(_deferDepth > 0 ? torch.empty(outFeatures, inFeatures, device: torch.META) : torch.empty(outFeatures, inFeatures));
        nn.init.kaiming_uniform_(weight, Math.Sqrt(5));
        if (hasBias)
        {
            bias = nn.Parameter(torch.empty(outFeatures));
            double bound = inFeatures > 0 ? 1 / Math.Sqrt(inFeatures) : 0;
            nn.init.uniform_(bias, -bound, bound);
        }
        RegisterComponents();
    }

    private Projection(Func<Tensor> sharedWeight, Func<QuantizedWeight?>? sharedQuantized) : base(nameof(Projection))
    {
        _sharedWeight = sharedWeight;
        _sharedQuantized = sharedQuantized;
    }

    /// <summary>
    /// A projection over another module's weight (GPT-2's output head tied to wte). It registers no parameter, so it
    /// must not be registered as a child either: the owner keeps it in a field assigned after RegisterComponents. When
    /// <paramref name="quantized"/> gives a weight, that (quantized) table is used instead of <paramref name="weight"/>.
    /// </summary>
    public static Projection Tied(Func<Tensor> weight, Func<QuantizedWeight?>? quantized = null) => new(weight, quantized);

    /// <summary>
    /// Until disposed, projections created on this thread get their weight on the meta device (no memory, no values): for a
    /// loader that substitutes quantized weights and then calls <see cref="MaterializeDeferred"/> for the others.
    /// </summary>
    public static IDisposable DeferWeights() { _deferDepth++; return new DeferScope(); }

    private sealed class DeferScope : IDisposable
    {
        private bool _done;
        public void Dispose() { if (!_done) { _deferDepth--; _done = true; } }
    }

    /// <summary>Gives every projection of <paramref name="model"/> still on the meta device a real (uninitialised) CPU weight.</summary>
    public static void MaterializeDeferred(nn.Module model)
    {
        foreach (var m in model.modules().Prepend(model))                              // modules() leaves out the root
            if (m is Projection { weight: { } w } p && w.device_type == DeviceType.META)
            {
                var real = nn.Parameter(torch.empty(p._out, p._in));
                w.Dispose();
                p.weight = real;
                p.ReplaceWeightParameter(real);
            }
    }

    private void ReplaceWeightParameter(Parameter? value) => ConditionallyRegisterParameter("weight", value);

    /// <summary>The quantized weight this projection applies (its own or the tied one); null for a float projection.</summary>
    public QuantizedWeight? Quantized => _quantized ?? _sharedQuantized?.Invoke();

    /// <summary>
    /// Substitutes <paramref name="quantized"/> (out, in) for the float weight, which is removed and disposed; the
    /// projection owns it from now on. Not for tied projections (quantize the table they view).
    /// </summary>
    public void Quantize(QuantizedWeight quantized)
    {
        if (_sharedWeight is not null) throw new InvalidOperationException("a tied projection is quantized through the weight it views");
        if (_quantized is not null) throw new InvalidOperationException("the projection is already quantized");
        if (quantized.Rows != _out || quantized.Cols != _in)
            throw new ArgumentException($"quantized weight is ({quantized.Rows}, {quantized.Cols}), the projection is ({_out}, {_in})", nameof(quantized));
        var old = weight;
        weight = null;
        ReplaceWeightParameter(null);
        old?.Dispose();
        _quantized = quantized;
    }

    /// <summary>(out, in). For a quantized projection the dequantized matrix: cached when small (≤ <see cref="DequantizedCacheLimit"/> elements), else a new tensor each call.</summary>
    public Tensor Weight => Quantized is { } q ? Dequantized(q) : weight ?? _sharedWeight!();

    private Tensor Dequantized(QuantizedWeight q)
    {
        if ((long)q.Rows * q.Cols > DequantizedCacheLimit) return q.Dequantize();
        if (_dequantized is null || _dequantized.IsInvalid) _dequantized = q.Dequantize().DetachFromDisposeScope();
        return _dequantized;
    }

    public Tensor? Bias => bias;

    public long InFeatures => Quantized is { } q ? q.Cols : weight?.shape[1] ?? _sharedWeight!().shape[1];
    public long OutFeatures => Quantized is { } q ? q.Rows : weight?.shape[0] ?? _sharedWeight!().shape[0];

    /// <summary>Device of the weight (quantized or float), without dequantizing anything.</summary>
    public Device WeightDevice => Quantized is { } q ? q.Data.device : Weight.device;

    /// <summary>Dtype the weight is applied in: float32 for a quantized projection, else the float weight's.</summary>
    public ScalarType WeightDType => Quantized is not null ? ScalarType.Float32 : Weight.dtype;

    /// <summary>Dtype of the matmul and of the result (mixed precision); null = the weight's own.</summary>
    public ScalarType? ComputeDType { get; set; }

    /// <summary>Extension point: a term added to the output (LoRA), also folded into <see cref="EffectiveWeight"/>.</summary>
    public IProjectionAdapter? Adapter { get; set; }

    /// <summary>The dense (out, in) weight this projection applies, adapter included (for paths that read the matrix itself).</summary>
    public Tensor EffectiveWeight() => Adapter is { } a ? a.EffectiveWeight(Weight) : Weight;

    /// <summary>
    /// True when the output is exactly x·Weightᵀ (no bias, no adapter) with a float weight: a fused head + loss may use
    /// <see cref="Weight"/> (a quantized one would be dequantized whole).
    /// </summary>
    public bool IsPlainMatrix => bias is null && Adapter is null && Quantized is null;

    public override Tensor forward(Tensor x)                                         // x: (…, in)
    {
        Tensor y;
        if (Quantized is { } q) y = QuantizedForward(x, q);
        else
        {
            var w = Weight;
            y = ComputeDType is { } dt && (dt != w.dtype || dt != x.dtype)
                ? nn.functional.linear(x.to(dt), w.to(dt), bias?.to(dt))                 // (…, out) in dt
                : DecodeGemv.Linear(x, w, bias);                                          // (…, out); GEMV for one row
        }
        if (Adapter is { } adapter) y = y + adapter.Forward(x).to(y.dtype);
        return y;
    }

    /// <summary>
    /// x·Wᵀ + b for the quantized W: the kernel when no gradient is wanted; with one wanted for x or b, a linear over the
    /// dequantized W (a constant: W gets no gradient). Float32 activations; the result in <see cref="ComputeDType"/> if set.
    /// </summary>
    private Tensor QuantizedForward(Tensor x, QuantizedWeight q)
    {
        using var scope = torch.NewDisposeScope();
        var xf = x.dtype == ScalarType.Float32 ? x : x.to(ScalarType.Float32);             // (…, in)
        var b = bias is null ? null : bias.dtype == ScalarType.Float32 ? bias : bias.to(ScalarType.Float32);
        bool needsGrad = torch.is_grad_enabled() && (x.requires_grad || bias?.requires_grad == true);
        Tensor y;
        y = needsGrad
            ? nn.functional.linear(xf, Dequantized(q), b)                                  // (…, out), autograd through x and b
            : QuantizedGemm.Linear(xf, q, b);                                                // (…, out); copies a strided x itself
        if (ComputeDType is { } dt && dt != y.dtype) y = y.to(dt);
        return y.MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _quantized?.Dispose();
            _quantized = null;
            _dequantized?.Dispose();
            _dequantized = null;
        }
        base.Dispose(disposing);
    }
}
