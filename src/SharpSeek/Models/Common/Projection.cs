using SharpSeek.Kernels;
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
/// the one place where an adapter (<see cref="Adapter"/>) or, later, a quantized weight is substituted.
/// </summary>
public sealed class Projection : nn.Module<Tensor, Tensor>
{
    private readonly Parameter? weight;        // (out, in); null for a view of another module's weight
    private readonly Parameter? bias;          // (out)
    private readonly Func<Tensor>? _sharedWeight;

    /// <summary>A new projection initialised as nn.Linear (Kaiming-uniform weight, uniform bias; the same random draws).</summary>
    public Projection(long inFeatures, long outFeatures, bool hasBias = true) : base(nameof(Projection))
    {
        weight = nn.Parameter(torch.empty(outFeatures, inFeatures));
        nn.init.kaiming_uniform_(weight, Math.Sqrt(5));
        if (hasBias)
        {
            bias = nn.Parameter(torch.empty(outFeatures));
            double bound = inFeatures > 0 ? 1 / Math.Sqrt(inFeatures) : 0;
            nn.init.uniform_(bias, -bound, bound);
        }
        RegisterComponents();
    }

    private Projection(Func<Tensor> sharedWeight) : base(nameof(Projection)) => _sharedWeight = sharedWeight;

    /// <summary>
    /// A projection over another module's weight (GPT-2's output head tied to wte). It registers no parameter, so it
    /// must not be registered as a child either: the owner keeps it in a field assigned after RegisterComponents.
    /// </summary>
    public static Projection Tied(Func<Tensor> weight) => new(weight);

    /// <summary>(out, in).</summary>
    public Tensor Weight => weight ?? _sharedWeight!();

    public Tensor? Bias => bias;

    public long InFeatures => Weight.shape[1];
    public long OutFeatures => Weight.shape[0];

    /// <summary>Dtype of the matmul and of the result (mixed precision); null = the weight's own.</summary>
    public ScalarType? ComputeDType { get; set; }

    /// <summary>Extension point: a term added to the output (LoRA), also folded into <see cref="EffectiveWeight"/>.</summary>
    public IProjectionAdapter? Adapter { get; set; }

    /// <summary>The dense (out, in) weight this projection applies, adapter included (for paths that read the matrix itself).</summary>
    public Tensor EffectiveWeight() => Adapter is { } a ? a.EffectiveWeight(Weight) : Weight;

    /// <summary>True when the output is exactly x·Weightᵀ (no bias, no adapter): a fused head + loss may use <see cref="Weight"/>.</summary>
    public bool IsPlainMatrix => bias is null && Adapter is null;

    public override Tensor forward(Tensor x)                                         // x: (…, in)
    {
        var w = Weight;
        var y = ComputeDType is { } dt && (dt != w.dtype || dt != x.dtype)
            ? nn.functional.linear(x.to(dt), w.to(dt), bias?.to(dt))                   // (…, out) in dt
            : DecodeGemv.Linear(x, w, bias);                                            // (…, out); GEMV for one row
        if (Adapter is { } adapter) y = y + adapter.Forward(x).to(y.dtype);
        return y;
    }
}
