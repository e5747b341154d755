using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) · up(x)). Shazeer 2020, "GLU Variants Improve Transformer".</summary>
public sealed class DeepSeekMlp : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "gate_proj")] private readonly Projection _gate;   // (I, D)
    [ComponentName(Name = "up_proj")] private readonly Projection _up;       // (I, D)
    [ComponentName(Name = "down_proj")] private readonly Projection _down;   // (D, I)

    public DeepSeekMlp(int hidden, int intermediate) : base(nameof(DeepSeekMlp))
    {
        _gate = new Projection(hidden, intermediate, hasBias: false);
        _up = new Projection(hidden, intermediate, hasBias: false);
        _down = new Projection(intermediate, hidden, hasBias: false);
        RegisterComponents();
    }

    /// <summary>x (..., D) → (..., D), in the projections' compute dtype (the caller adds it to the float32 residual).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        if (_gate.ComputeDType is { } dt) x = x.to(dt);                 // cast once for gate and up
        var h = nn.functional.silu(_gate.call(x)) * _up.call(x);        // (..., I)
        return _down.call(h).MoveToOuterDisposeScope();                 // (..., D)
    }
}
