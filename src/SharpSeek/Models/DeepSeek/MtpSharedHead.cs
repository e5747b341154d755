using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// The norm in front of the output head of an MTP module (HF key <c>shared_head.norm</c>); the head matrix itself is
/// the main model's lm_head (DeepSeek-V3 §2.2, shared output head).
/// </summary>
public sealed class MtpSharedHead : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "norm")] private readonly DeepSeekRmsNorm _norm;

    public MtpSharedHead(DeepSeekV3Config c) : base(nameof(MtpSharedHead))
    {
        _norm = new DeepSeekRmsNorm(c.HiddenSize, c.RmsNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h) => _norm.call(h);                        // (B, T, D)
}
