using TorchSharp;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// One multi-token-prediction depth (DeepSeek-V3 §2.2): h' = eh_proj([RMSNorm_e(Emb(t_{i+k})); RMSNorm_h(h^{k-1}_i)]),
/// h^k = TRM_k(h'), logits = lm_head(shared_head.norm(h^k)). Stored like the released checkpoints: the block's own
/// tensors (input_layernorm, self_attn, post_attention_layernorm, mlp) sit next to enorm, hnorm, eh_proj, shared_head.
/// </summary>
public sealed class MtpModule : nn.Module<Tensor, Tensor, MlaContext, Tensor>
{
    private readonly DeepSeekRmsNorm _enorm;
    private readonly DeepSeekRmsNorm _hnorm;
    private readonly Projection _ehProj;                // (D, 2D): embedding half first
    private readonly MtpSharedHead _sharedHead;
    private readonly DeepSeekDecoderLayer _block;

    public MtpModule(DeepSeekV3Config c, bool moe) : base(nameof(MtpModule))
    {
        _enorm = new DeepSeekRmsNorm(c.HiddenSize, c.RmsNormEps);
        _hnorm = new DeepSeekRmsNorm(c.HiddenSize, c.RmsNormEps);
        _ehProj = new Projection(2 * c.HiddenSize, c.HiddenSize, hasBias: false);
        _sharedHead = new MtpSharedHead(c);
        _block = new DeepSeekDecoderLayer(c, moe);
        // The block's children are registered at this level so the keys read model.layers.{N+k}.self_attn..., as released.
        foreach (var (name, child) in _block.named_children()) register_module(name, child);
        register_module("enorm", _enorm);
        register_module("hnorm", _hnorm);
        register_module("eh_proj", _ehProj);
        register_module("shared_head", _sharedHead);
    }

    public DeepSeekDecoderLayer Block => _block;
    public MtpSharedHead SharedHead => _sharedHead;

    /// <summary>h^k (B, T', D) from embeddings of the shifted tokens (B, T', D) and the previous depth's states (B, T', D).</summary>
    public override Tensor forward(Tensor embedded, Tensor previous, MlaContext ctx)
    {
        using var scope = torch.NewDisposeScope();
        var joined = torch.cat([_enorm.call(embedded), _hnorm.call(previous)], -1);     // (B, T', 2D)
        var h = _block.call(_ehProj.call(joined).to(joined.dtype), ctx);                   // (B, T', D) float32 residual stream
        return h.MoveToOuterDisposeScope();
    }
}
