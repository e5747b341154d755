using TorchSharp;
using TorchSharp.Utils;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

/// <summary>
/// Per-forward inputs shared by every attention layer: rotary cos/sin, the allowed-keys mask and the cache; and the
/// forward's collectors: attention probabilities (when asked for) and the MoE balance losses (in training).
/// </summary>
public sealed record MlaContext(Tensor Cos, Tensor Sin, Tensor Allowed, MlaKvCache? Cache, int Layer)
{
    /// <summary>When set, each attention layer adds its probabilities (B, H, T, S), detached from every dispose scope.</summary>
    public List<Tensor>? Attentions { get; init; }

    /// <summary>When set, MoE layers add their balance losses (scalars), detached from every dispose scope, to it.</summary>
    public List<Tensor>? AuxiliaryLosses { get; init; }
}

/// <summary>
/// Multi-head Latent Attention (DeepSeek-V2 §2.1, DeepSeek-V3 §2.1.1): low-rank query (optional) and joint KV compression,
/// decoupled RoPE key k_pe shared by all heads. <see cref="Impl"/> selects naive (expand per-head k, v) or absorbed
/// (fold kv_b_proj into the query and the output) computation; both read the same compressed cache.
/// </summary>
public sealed class MlaAttention : nn.Module<Tensor, MlaContext, Tensor>
{
    [ComponentName(Name = "q_proj")] private readonly Projection? _qProj;                 // (H·(n+r), D) when q_lora_rank = 0
    [ComponentName(Name = "q_a_proj")] private readonly Projection? _qAProj;              // (ql, D)
    [ComponentName(Name = "q_a_layernorm")] private readonly DeepSeekRmsNorm? _qANorm; // (ql)
    [ComponentName(Name = "q_b_proj")] private readonly Projection? _qBProj;              // (H·(n+r), ql)
    [ComponentName(Name = "kv_a_proj_with_mqa")] private readonly Projection _kvAProj;   // (kl + r, D)
    [ComponentName(Name = "kv_a_layernorm")] private readonly DeepSeekRmsNorm _kvANorm; // (kl)
    [ComponentName(Name = "kv_b_proj")] private readonly Projection _kvBProj;             // (H·(n+dv), kl)
    [ComponentName(Name = "o_proj")] private readonly Projection _oProj;                  // (D, H·dv)

    private readonly int _heads, _nope, _rope, _v, _kl;
    private readonly double _scale;

    public AttentionImpl Impl { get; set; } = AttentionImpl.Naive;

    public MlaAttention(DeepSeekV3Config c) : base(nameof(MlaAttention))
    {
        _heads = c.NumAttentionHeads; _nope = c.QkNopeHeadDim; _rope = c.QkRopeHeadDim; _v = c.VHeadDim; _kl = c.KvLoraRank;
        _scale = c.SoftmaxScale;
        int d = c.HiddenSize, qOut = _heads * c.QkHeadDim;
        if (c.QRank > 0)
        {
            _qAProj = new Projection(d, c.QRank, hasBias: false);
            _qANorm = new DeepSeekRmsNorm(c.QRank, c.RmsNormEps);
            _qBProj = new Projection(c.QRank, qOut, hasBias: false);
        }
        else _qProj = new Projection(d, qOut, hasBias: false);
        _kvAProj = new Projection(d, _kl + _rope, hasBias: false);
        _kvANorm = new DeepSeekRmsNorm(_kl, c.RmsNormEps);
        _kvBProj = new Projection(_kl, _heads * (_nope + _v), hasBias: false);
        _oProj = new Projection(_heads * _v, d, hasBias: false);
        RegisterComponents();
    }

    /// <summary>Dtype of the attention matmuls in mixed precision (scores are softmaxed in float32); null = the input's.</summary>
    internal ScalarType? ComputeDType { get; set; }

    public override Tensor forward(Tensor x, MlaContext ctx)                         // x: (B, T, D)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var dt = ComputeDType ?? x.dtype;
        var q = _qProj is not null ? _qProj.call(x) : _qBProj!.call(_qANorm!.call(_qAProj!.call(x).to(x.dtype)));   // (B, T, H·(n+r)); norms in float32
        q = q.view(b, t, _heads, _nope + _rope).transpose(1, 2);                      // (B, H, T, n+r)
        var qNope = q.narrow(-1, 0, _nope);                                            // (B, H, T, n)
        var qPe = DeepSeekRotaryEmbedding.Apply(q.narrow(-1, _nope, _rope), ctx.Cos, ctx.Sin).to(dt);   // (B, H, T, r)

        var kv = _kvAProj.call(x).to(x.dtype);                                         // (B, T, kl + r)
        var ckv = _kvANorm.call(kv.narrow(-1, 0, _kl));                                // (B, T, kl) normalised latent
        var kPe = DeepSeekRotaryEmbedding.Apply(kv.narrow(-1, _kl, _rope).unsqueeze(1), ctx.Cos, ctx.Sin).squeeze(1);   // (B, T, r)
        if (ctx.Cache is { } cache) (ckv, kPe) = cache.Write(ctx.Layer, ckv, kPe);    // (B, S, kl), (B, S, r)
        ckv = ckv.to(dt); kPe = kPe.to(dt);

        var (o, probs) = Impl == AttentionImpl.Naive ? Naive(qNope, qPe, ckv, kPe, ctx.Allowed) : Absorbed(qNope, qPe, ckv, kPe, ctx.Allowed);   // (B, T, H·dv)
        ctx.Attentions?.Add(probs.detach().DetachFromDisposeScope());
        return _oProj.call(o).MoveToOuterDisposeScope();                               // (B, T, D) in the compute dtype
    }

    /// <summary>Expands the latent into per-head k_nope and v, then standard attention.</summary>
    private (Tensor Output, Tensor Probs) Naive(Tensor qNope, Tensor qPe, Tensor ckv, Tensor kPe, Tensor allowed)
    {
        long b = ckv.shape[0], s = ckv.shape[1], t = qNope.shape[2];
        var kv = _kvBProj.call(ckv).view(b, s, _heads, _nope + _v).transpose(1, 2);    // (B, H, S, n+dv)
        var kNope = kv.narrow(-1, 0, _nope);                                           // (B, H, S, n)
        var v = kv.narrow(-1, _nope, _v);                                              // (B, H, S, dv)
        var scores = torch.matmul(qNope, kNope.transpose(-2, -1))                      // (B, H, T, S)
                   + torch.matmul(qPe, kPe.unsqueeze(1).transpose(-2, -1));           // (B, H, T, S)
        var probs = Softmax(scores, allowed);                                          // (B, H, T, S) float32
        return (torch.matmul(probs.to(v.dtype), v).transpose(1, 2).reshape(b, t, _heads * _v), probs);   // (B, T, H·dv)
    }

    /// <summary>Folds W_UK into the query and W_UV into the output: attention runs in the kv_lora_rank latent space.</summary>
    private (Tensor Output, Tensor Probs) Absorbed(Tensor qNope, Tensor qPe, Tensor ckv, Tensor kPe, Tensor allowed)
    {
        long b = ckv.shape[0], t = qNope.shape[2];
        var w = _kvBProj.EffectiveWeight().to(ckv.dtype).view(_heads, _nope + _v, _kl);   // (H, n+dv, kl)
        var wUk = w.narrow(1, 0, _nope);                                               // (H, n, kl)
        var wUv = w.narrow(1, _nope, _v);                                              // (H, dv, kl)
        var qLatent = torch.matmul(qNope, wUk);                                        // (B, H, T, kl)
        var scores = torch.matmul(qLatent, ckv.unsqueeze(1).transpose(-2, -1))         // (B, H, T, S)
                   + torch.matmul(qPe, kPe.unsqueeze(1).transpose(-2, -1));           // (B, H, T, S)
        var probs = Softmax(scores, allowed);                                          // (B, H, T, S) float32
        var oLatent = torch.matmul(probs.to(ckv.dtype), ckv.unsqueeze(1));             // (B, H, T, kl)
        var o = torch.matmul(oLatent, wUv.transpose(-2, -1));                          // (B, H, T, dv)
        return (o.transpose(1, 2).reshape(b, t, _heads * _v), probs);                 // (B, T, H·dv)
    }

    private Tensor Softmax(Tensor scores, Tensor allowed)                              // scores: (B, H, T, S); allowed: (B, 1, T, S)
    {
        var masked = (scores.to(ScalarType.Float32) * _scale).masked_fill(allowed.logical_not(), float.NegativeInfinity);
        return masked.softmax(-1);                                                     // (B, H, T, S)
    }
}
