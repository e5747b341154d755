using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// One low-rank adapter on a <see cref="Projection"/> (LoRA, Hu et al. 2021, §4.1): y = W·x + b + s·B·A·dropout(x) with
/// A (r, in) Kaiming-uniform, B (out, r) zeros (so the adapted model starts equal to the base) and s = α/r (α/√r with
/// rsLoRA, Kalajdzievski 2023). Parameter names and shapes are PEFT's: lora_A (r, in), lora_B (out, r). For GPT-2's
/// c_attn, c_proj and c_fc, stored by Hugging Face as Conv1D with [in, out] weights, PEFT still keeps lora_A (r, in) and
/// lora_B (out, r) (only its merge transposes, fan_in_fan_out); our projections hold W as (out, in), so nothing flips.
/// The adapter is not registered under the projection (model state dicts and checkpoints stay the base model's);
/// <see cref="LoraAdapters"/> owns it and hands its parameters to the optimizer.
/// </summary>
public sealed class LoraAdapter : nn.Module, IProjectionAdapter
{
    [ComponentName(Name = "lora_A")] private readonly Parameter _a;   // (r, in)
    [ComponentName(Name = "lora_B")] private readonly Parameter _b;   // (out, r)
    private readonly Projection _target;

    /// <summary>A new adapter of rank <paramref name="rank"/> for <paramref name="target"/>, on its weight's device and dtype.</summary>
    public LoraAdapter(Projection target, int rank, double scaling, double dropout) : base(nameof(LoraAdapter))
    {
        if (rank < 1) throw new ArgumentOutOfRangeException(nameof(rank), rank, "LoRA rank must be at least 1");
        if (dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        Scaling = scaling; Dropout = dropout;
        var (dtype, device) = (target.WeightDType, target.WeightDevice);                 // float32 on a quantized base (QLoRA-style)
        _a = nn.Parameter(torch.empty(rank, target.InFeatures, dtype: dtype, device: device));
        _b = nn.Parameter(torch.zeros(target.OutFeatures, rank, dtype: dtype, device: device));
        using (torch.no_grad()) nn.init.kaiming_uniform_(_a, Math.Sqrt(5));            // as PEFT (and nn.Linear)
        RegisterComponents();
        _target = target;                                                                 // after RegisterComponents: the adapted projection belongs to the base model, not to the adapter
    }

    /// <summary>lora_A (r, in).</summary>
    public Parameter A => _a;

    /// <summary>lora_B (out, r).</summary>
    public Parameter B => _b;

    public int Rank => (int)_a.shape[0];

    /// <summary>s in s·B·A: α/r, or α/√r with rsLoRA.</summary>
    public double Scaling { get; }

    /// <summary>Dropout probability on the adapter's input, applied while the adapted projection is in training mode.</summary>
    public double Dropout { get; }

    /// <summary>s·B·A·dropout(x), computed in x's dtype: (…, in) → (…, out).</summary>
    public Tensor Forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = Dropout > 0 && _target.training ? nn.functional.dropout(x, Dropout, training: true) : x;   // (…, in)
        var down = nn.functional.linear(h, _a.to(x.dtype));                                                 // (…, r)
        var up = nn.functional.linear(down, _b.to(x.dtype));                                                // (…, out)
        return (up * Scaling).MoveToOuterDisposeScope();
    }

    /// <summary>ΔW = s·B·A (out, in) in the adapter's dtype.</summary>
    public Tensor Delta() => _b.matmul(_a) * Scaling;

    /// <summary>W + s·B·A (out, in) in <paramref name="baseWeight"/>'s dtype.</summary>
    public Tensor EffectiveWeight(Tensor baseWeight)
    {
        using var scope = torch.NewDisposeScope();
        return (baseWeight + Delta().to(baseWeight.dtype)).MoveToOuterDisposeScope();
    }
}
