using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>Pre-norm DeepSeek-V3 block: h += MLA(RMSNorm(h)); h += FFN(RMSNorm(h)), FFN dense SwiGLU or DeepSeekMoE.</summary>
public sealed class DeepSeekDecoderLayer : nn.Module<Tensor, MlaContext, Tensor>
{
    [ComponentName(Name = "input_layernorm")] private readonly DeepSeekRmsNorm _inputNorm;
    [ComponentName(Name = "self_attn")] private readonly MlaAttention _attn;
    [ComponentName(Name = "post_attention_layernorm")] private readonly DeepSeekRmsNorm _postNorm;
    [ComponentName(Name = "mlp")] private readonly nn.Module<Tensor, Tensor> _mlp;     // DeepSeekMlp or DeepSeekMoe

    public DeepSeekDecoderLayer(DeepSeekV3Config c, bool moe) : base(nameof(DeepSeekDecoderLayer))
    {
        _inputNorm = new DeepSeekRmsNorm(c.HiddenSize, c.RmsNormEps);
        _attn = new MlaAttention(c);
        _postNorm = new DeepSeekRmsNorm(c.HiddenSize, c.RmsNormEps);
        _mlp = moe ? new DeepSeekMoe(c) : new DeepSeekMlp(c.HiddenSize, c.IntermediateSize);
        RegisterComponents();
    }

    public MlaAttention Attention => _attn;

    /// <summary>The layer's MoE, or null for a dense layer.</summary>
    public DeepSeekMoe? Moe => _mlp as DeepSeekMoe;

    public override Tensor forward(Tensor h, MlaContext ctx)                          // h: (B, T, D)
    {
        using var scope = torch.NewDisposeScope();
        h = h + _attn.call(_inputNorm.call(h), ctx).to(h.dtype);                        // (B, T, D) float32 residual stream
        var x = _postNorm.call(h);                                                      // (B, T, D)
        var y = _mlp is DeepSeekMoe moe ? moe.Forward(x, ctx.AuxiliaryLosses) : _mlp.call(x);
        h = h + y.to(h.dtype);                                                          // (B, T, D)
        return h.MoveToOuterDisposeScope();
    }
}
