using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SharpSeek.Models.Gpt2;

/// <summary>GPT-2 causal multi-head self-attention with a fused q/k/v projection (Radford et al. 2019; nanoGPT).</summary>
public sealed class Gpt2Attention : nn.Module
{
    [ComponentName(Name = "c_attn")] private readonly Linear _qkv;    // HF key: attn.c_attn (Conv1D [in, out] on disk)
    [ComponentName(Name = "c_proj")] private readonly Linear _proj;   // HF key: attn.c_proj
    private readonly int _nHead, _nEmbd;
    private readonly double _attnDropout, _residDropout;

    public Gpt2Attention(Gpt2Config config) : base(nameof(Gpt2Attention))
    {
        _nHead = config.NHead; _nEmbd = config.NEmbd;
        _attnDropout = config.AttnPdrop; _residDropout = config.ResidPdrop;
        _qkv = nn.Linear(config.NEmbd, 3 * config.NEmbd);
        _proj = nn.Linear(config.NEmbd, config.NEmbd);
        RegisterComponents();
    }

    /// <summary>
    /// x: (B, T, C). <paramref name="mask"/>: null for plain causal attention over the T tokens (or, with a cache and
    /// T = 1, over every cached token), else a bool (B, 1, T, L+T) mask of allowed keys.
    /// </summary>
    public Tensor forward(Tensor x, Gpt2KvCache? cache, int layer, Tensor? mask)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int hd = _nEmbd / _nHead;
        var qkv = DecodeGemv.Linear(_qkv, x);                                      // (B, T, 3C)
        var q = qkv.narrow(2, 0, _nEmbd).view(b, t, _nHead, hd).transpose(1, 2);          // (B, H, T, d)
        var k = qkv.narrow(2, _nEmbd, _nEmbd).view(b, t, _nHead, hd).transpose(1, 2);     // (B, H, T, d)
        var v = qkv.narrow(2, 2 * _nEmbd, _nEmbd).view(b, t, _nHead, hd).transpose(1, 2); // (B, H, T, d)
        bool pastTokens = cache is not null && cache.Length > 0;
        if (cache is not null) (k, v) = cache.Append(layer, k, v);                  // (B, H, L+T, d)
        double p = training ? _attnDropout : 0.0;
        Tensor y;
        if (mask is not null) y = nn.functional.scaled_dot_product_attention(q, k, v, mask, p, false);
        else if (!pastTokens) y = nn.functional.scaled_dot_product_attention(q, k, v, null, p, t > 1);
        else if (t == 1) y = nn.functional.scaled_dot_product_attention(q, k, v, null, p, false);
        else throw new InvalidOperationException("several new tokens after cached ones need an explicit mask");
        y = y.transpose(1, 2).contiguous().view(b, t, _nEmbd);                      // (B, T, C)
        y = DecodeGemv.Linear(_proj, y);
        if (training && _residDropout > 0) y = nn.functional.dropout(y, _residDropout, true);
        return y.MoveToOuterDisposeScope();
    }
}
