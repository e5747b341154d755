using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>RMSNorm: x / sqrt(mean(x²) + eps) · w, no bias, no mean subtraction. Zhang &amp; Sennrich 2019.</summary>
public sealed class DeepSeekRmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;   // HF key: <prefix>.weight
    private readonly double _eps;

    public DeepSeekRmsNorm(long dim, double eps) : base(nameof(DeepSeekRmsNorm))
    {
        weight = nn.Parameter(torch.ones(dim));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)                            // x: (..., dim)
    {
        using var scope = torch.NewDisposeScope();
        var rms = torch.rsqrt(x.square().mean([-1L], keepdim: true) + _eps);   // (..., 1)
        return (x * rms * weight).MoveToOuterDisposeScope();              // (..., dim)
    }
}
