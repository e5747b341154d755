using SharpSeek.Kernels;
using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.Gpt2;

/// <summary>GPT-2 causal multi-head self-attention with a fused q/k/v projection (Radford et al. 2019; nanoGPT).</summary>
public sealed class Gpt2Attention : nn.Module
{
    [ComponentName(Name = "c_attn")] private readonly Projection _qkv;    // HF key: attn.c_attn (Conv1D [in, out] on disk)
    [ComponentName(Name = "c_proj")] private readonly Projection _proj;   // HF key: attn.c_proj
    private readonly int _nHead, _nEmbd;
    private readonly double _attnDropout, _residDropout;

    public Gpt2Attention(Gpt2Config config) : base(nameof(Gpt2Attention))
    {
        _nHead = config.NHead; _nEmbd = config.NEmbd;
        _attnDropout = config.AttnPdrop; _residDropout = config.ResidPdrop;
        _qkv = new Projection(config.NEmbd, 3 * config.NEmbd);
        _proj = new Projection(config.NEmbd, config.NEmbd);
        RegisterComponents();
    }

    /// <summary>Dtype of causal attention without a cache in mixed-precision training (the projections carry their own); null = the weights' own.</summary>
    internal ScalarType? ComputeDType { get; set; }

    /// <summary>
    /// x: (B, T, C). <paramref name="mask"/>: null for plain causal attention over the T tokens (or, with a cache and
    /// T = 1, over every cached token), else a bool (1 or B, 1, T, L+T) mask of allowed keys. With
    /// <paramref name="probabilities"/> the attention probabilities (B, H, T, L+T) are computed explicitly and added to it.
    /// </summary>
    public Tensor forward(Tensor x, Gpt2KvCache? cache, int layer, Tensor? mask, List<Tensor>? probabilities = null)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int hd = _nEmbd / _nHead;
        bool plainCausal = cache is null && mask is null;
        bool lowPrecision = cache is null && ComputeDType is not null && probabilities is null;   // mixed-precision training, masked or not
        var qkv = _qkv.call(x);                         // (B, T, 3C)
        if (!plainCausal && !lowPrecision) qkv = qkv.to(x.dtype);                   // a cache or a mask keeps the model's dtype
        var q = qkv.narrow(2, 0, _nEmbd).view(b, t, _nHead, hd).transpose(1, 2);          // (B, H, T, d)
        var k = qkv.narrow(2, _nEmbd, _nEmbd).view(b, t, _nHead, hd).transpose(1, 2);     // (B, H, T, d)
        var v = qkv.narrow(2, 2 * _nEmbd, _nEmbd).view(b, t, _nHead, hd).transpose(1, 2); // (B, H, T, d)
        bool pastTokens = cache is not null && cache.Length > 0;
        if (cache is not null) (k, v) = cache.Append(layer, k, v);                  // (B, H, L+T, d)
        double p = training ? _attnDropout : 0.0;
        Tensor y;
        if (probabilities is not null)
        {
            var allowed = mask ?? torch.ones(t, k.shape[2], ScalarType.Bool, x.device).tril(k.shape[2] - t).view(1, 1, t, -1);   // (1, 1, T, L+T)
            var att = AttentionMasks.Softmax(torch.matmul(q, k.transpose(-2, -1)) * (1.0 / Math.Sqrt(hd)), allowed);             // (B, H, T, L+T)
            probabilities.Add(att.detach().DetachFromDisposeScope());   // the model's forward hands it to its caller's scope
            if (p > 0) att = nn.functional.dropout(att, p, true);
            y = torch.matmul(att.to(v.dtype), v);                                                                                // (B, H, T, d)
        }
        else if (lowPrecision) y = CausalAttention(q, k, v, p, mask);
        else if (mask is not null) y = nn.functional.scaled_dot_product_attention(q, k, v, mask, p, false);
        else if (!pastTokens) y = nn.functional.scaled_dot_product_attention(q, k, v, null, p, t > 1);
        else if (t == 1) y = nn.functional.scaled_dot_product_attention(q, k, v, null, p, false);
        else throw new InvalidOperationException("several new tokens after cached ones need an explicit mask");
        y = y.transpose(1, 2).contiguous().view(b, t, _nEmbd);                      // (B, T, C)
        y = _proj.call(y);
        if (training && _residDropout > 0) y = nn.functional.dropout(y, _residDropout, true);
        y = y.to(x.dtype);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Whether <see cref="DecodeStep"/> may run: the projections compute in the weights' dtype (no mixed precision).</summary>
    internal bool CanDecodeStep => ComputeDType is null && _qkv.ComputeDType is null && _proj.ComputeDType is null;

    /// <summary>
    /// The decode fast path of one token, batch 1, float32, no grad (<see cref="Gpt2Model"/>): x += c_proj(attention(c_attn(h)))
    /// on raw rows, the token's keys and values written into <paramref name="cache"/> at <paramref name="pos"/>, then
    /// attention over positions 0…pos (same maths as <see cref="forward"/>; heads split over <see cref="DecodeThreads"/>).
    /// h, a: (1, 1, C) float32 (a is scratch); x: the residual stream, C floats; scores: H × capacity floats of scratch.
    /// </summary>
    internal unsafe void DecodeStep(Tensor h, Tensor a, float* x, Gpt2KvCache cache, int layer, int pos, float* scores)
    {
        int hd = _nEmbd / _nHead, cap = cache.Capacity, keys = pos + 1;
        using var qkv = DecodeOps.Float32(_qkv.call(h));                                  // (1, 1, 3C)
        float* q = DecodeOps.Address(qkv), kNew = q + _nEmbd, vNew = kNew + _nEmbd;
        float* kc = DecodeOps.Address(cache.Storage(layer, 0)), vc = DecodeOps.Address(cache.Storage(layer, 1));   // (1, H, cap, d)
        for (int head = 0; head < _nHead; head++)
        {
            long at = ((long)head * cap + pos) * hd;
            Buffer.MemoryCopy(kNew + head * hd, kc + at, hd * sizeof(float), hd * sizeof(float));
            Buffer.MemoryCopy(vNew + head * hd, vc + at, hd * sizeof(float), hd * sizeof(float));
        }
        float* ap = DecodeOps.Address(a);
        float scale = 1f / MathF.Sqrt(hd);
        DecodeThreads.For(KernelThreads.Count(2L * _nHead * keys * hd), _nHead, head =>
            DecodeOps.Attention(q + head * hd, kc + (long)head * cap * hd, vc + (long)head * cap * hd, keys, hd, scale,
                                scores + (long)head * cap, ap + head * hd));
        using var o = DecodeOps.Float32(_proj.call(a));                                   // (1, 1, C)
        DecodeOps.Add(x, DecodeOps.Address(o), _nEmbd);
    }

    /// <summary>
    /// softmax(q·kᵀ/√d, causal or masked to <paramref name="allowed"/>)·v with plain batched matmuls, for q, k, v (B, H, T, d) in a low-precision dtype: in bf16 on
    /// this CPU it is about 2× faster forward + backward than LibTorch's SDPA, whose CPU kernel gains nothing from bf16
    /// (12 vs 23 ms per config-A block, <c>SharpSeek.Bench worker trunk</c>).
    /// </summary>
    private static Tensor CausalAttention(Tensor q, Tensor k, Tensor v, double dropout, Tensor? allowed = null)
    {
        long t = q.shape[2];
        var att = torch.matmul(q * (1.0 / Math.Sqrt(q.shape[^1])), k.transpose(-2, -1));                       // (B, H, T, T)
        var hidden = allowed is null ? torch.ones(t, t, ScalarType.Bool, q.device).triu(1) : allowed.logical_not();   // (T, T) or (1|B, 1, T, T)
        att = att.masked_fill(hidden, float.NegativeInfinity).softmax(-1);
        if (dropout > 0) att = nn.functional.dropout(att, dropout, true);
        return torch.matmul(att, v);                                                                           // (B, H, T, d)
    }
}
