using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.DeepSeek;

public sealed partial class DeepSeekV3ForCausalLM
{
    /// <summary>
    /// Main-model forward that also returns the residual stream: hidden (B, T, D) after the last block (the MTP modules'
    /// input) and logits (B, T, V). The T tokens follow the cached ones and are appended to <paramref name="cache"/>.
    /// </summary>
    public (Tensor Hidden, Tensor Logits) ForwardWithHidden(Tensor ids, MlaKvCache cache)
    {
        using var scope = torch.NewDisposeScope();
        var h = _model.Hidden(ids, cache, null, null);                                     // (B, T, D)
        var logits = _lmHead.call(_model.Norm.call(h));                                    // (B, T, V)
        return (h.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
    }

    /// <summary>A one-layer compressed cache for the attention of MTP module <c>k</c> at inference.</summary>
    public MlaKvCache CreateMtpKvCache(int batchSize, int capacity) =>
        new(1, batchSize, capacity, Config.KvLoraRank, Config.QkRopeHeadDim, Device, _lmHead.weight!.dtype);

    /// <summary>
    /// MTP module <paramref name="module"/> (0-based) at positions cache.Length.. (DeepSeek-V3 §2.2): from the next tokens
    /// <paramref name="nextIds"/> (B, T) and the previous depth's states <paramref name="previous"/> (B, T, D) it returns its
    /// states (B, T, D) and logits (B, T, V) for the token after the next. Appends T entries to <paramref name="cache"/>.
    /// </summary>
    public (Tensor Hidden, Tensor Logits) MtpForward(int module, Tensor nextIds, Tensor previous, MlaKvCache cache)
    {
        if (module < 0 || module >= _model.Mtp.Count)
            throw new ArgumentOutOfRangeException(nameof(module), $"the model has {_model.Mtp.Count} MTP module(s)");
        using var scope = torch.NewDisposeScope();
        long b = nextIds.shape[0], t = nextIds.shape[1];
        var ctx = _model.Context(b, t, cache.Length, null, nextIds.device) with { Layer = 0, Cache = cache };
        var mtp = _model.Mtp[module];
        var h = mtp.call(_model.EmbedTokens.call(nextIds), previous, ctx);                // (B, T, D)
        cache.Advance((int)t);
        var logits = _lmHead.call(mtp.SharedHead.call(h));                                 // (B, T, V)
        return (h.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope());
    }
}
