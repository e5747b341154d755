using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

public sealed partial class DeepSeekV3ForCausalLM
{
    /// <summary>A one-layer compressed cache for the attention of an MTP module at inference.</summary>
    public KvCache CreateMtpKvCache(int batchSize, int capacity) =>
        new MlaKvCache(1, batchSize, capacity, Config.KvLoraRank, Config.QkRopeHeadDim, Device, _lmHead.WeightDType);

    /// <summary>
    /// MTP module <paramref name="module"/> (0-based) at positions cache.Length.. (DeepSeek-V3 §2.2): from the next tokens
    /// <paramref name="nextIds"/> (B, T) and the previous depth's states <paramref name="previous"/> (B, T, D) it returns its
    /// states (B, T, D) and logits (B, T, V) for the token after the next. Appends T entries to <paramref name="cache"/>.
    /// </summary>
    public (Tensor Hidden, Tensor Logits) MtpForward(int module, Tensor nextIds, Tensor previous, KvCache cache)
    {
        if (module < 0 || module >= _model.Mtp.Count)
            throw new ArgumentOutOfRangeException(nameof(module), $"the model has {_model.Mtp.Count} MTP module(s)");
        if (cache is not MlaKvCache mla) throw new ArgumentException($"MTP modules need the cache of {nameof(CreateMtpKvCache)}", nameof(cache));
        using var scope = torch.NewDisposeScope();
        long b = nextIds.shape[0], t = nextIds.shape[1];
        var ctx = _model.Context(b, t, mla.Length, null, null, nextIds.device) with { Layer = 0, Cache = mla };
        var mtp = _model.Mtp[module];
        var h = mtp.call(_model.Embed(nextIds), previous, ctx);                   // (B, T, D)
        mla.Advance((int)t);
        var logits = _lmHead.call(mtp.SharedHead.call(h)).to(h.dtype);                    // (B, T, V)
        return (h.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
    }
}
