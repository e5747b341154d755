using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) · up(x)). Shazeer 2020, "GLU Variants Improve Transformer".</summary>
public sealed class DeepSeekMlp : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "gate_proj")] private readonly Linear _gate;   // (I, D)
    [ComponentName(Name = "up_proj")] private readonly Linear _up;       // (I, D)
    [ComponentName(Name = "down_proj")] private readonly Linear _down;   // (D, I)

    public DeepSeekMlp(int hidden, int intermediate) : base(nameof(DeepSeekMlp))
    {
        _gate = nn.Linear(hidden, intermediate, hasBias: false);
        _up = nn.Linear(hidden, intermediate, hasBias: false);
        _down = nn.Linear(intermediate, hidden, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)                            // x: (..., D)
    {
        using var scope = torch.NewDisposeScope();
        var h = nn.functional.silu(_gate.call(x)) * _up.call(x);        // (..., I)
        return _down.call(h).MoveToOuterDisposeScope();                 // (..., D)
    }
}
