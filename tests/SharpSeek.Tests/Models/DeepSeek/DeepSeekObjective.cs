using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.DeepSeek;

/// <summary>
/// The DeepSeek-V3 training objective as the tests call it, and the same objective assembled by hand from the model's
/// logits with plain torch ops. Every model call of these tests goes through here: the one place to change when the
/// loss moves out of the model or the forward entry points change.
/// </summary>
internal static class DeepSeekObjective
{
    /// <summary>The model's training loss: CE_main + λ/D·Σ_k CE_k + the MoE balance terms (DeepSeek-V3 §2.2 eq. 25, §2.1.2 eq. 17).</summary>
    public static Tensor Loss(DeepSeekV3ForCausalLM model, Tensor ids, Tensor targets) => LanguageModelObjective.Loss(model, ids, targets);

    /// <summary>Main-model hidden states (B, T, D) after the last block and logits (B, T, V), positions 0..T−1.</summary>
    private static (Tensor Hidden, Tensor Logits) MainHead(DeepSeekV3ForCausalLM model, Tensor ids)
    {
        using var output = model.call(new CausalLMInput(ids) { OutputHiddenStates = true });
        return (output.ResidualState!.alias(), output.TakeLogits());
    }

    /// <summary>MTP depth <paramref name="k"/> (1-based) from the next tokens (B, T−k) and the previous depth's states (B, T−k, D): its states and logits (B, T−k, V).</summary>
    private static (Tensor Hidden, Tensor Logits) MtpDepth(DeepSeekV3ForCausalLM model, int k, Tensor nextIds, Tensor previous)
    {
        using var cache = model.CreateMtpKvCache((int)nextIds.shape[0], (int)nextIds.shape[1]);
        return model.MtpForward(k - 1, nextIds, previous, cache);
    }

    /// <summary>−mean over the targets that are not −100 of log_softmax(logits)[target], in float64: logits (…, V), targets (…).</summary>
    public static double CrossEntropyByHand(Tensor logits, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var flat = logits.reshape(-1, logits.shape[^1]).to(ScalarType.Float64);         // (N, V)
        var t = targets.reshape(-1);                                                     // (N)
        var keep = t.ne(-100);
        var logp = flat.log_softmax(-1).gather(1, t.masked_fill(keep.logical_not(), 0).unsqueeze(1)).squeeze(1);   // (N)
        return -logp.masked_select(keep).mean().item<double>();
    }

    /// <summary>
    /// CE of the main head against <paramref name="targets"/> (B, T), and CE_k of each MTP depth k = 1..D: depth k sees
    /// tokens t_{i+k} and the states of depth k−1 at positions 0..T−k−1 and predicts targets shifted by k (DeepSeek-V3 §2.2).
    /// </summary>
    public static (double Main, double[] Depths) CrossEntropiesByHand(DeepSeekV3ForCausalLM model, Tensor ids, Tensor targets)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long t = ids.shape[1];
        var (previous, logits) = MainHead(model, ids);
        double main = CrossEntropyByHand(logits, targets);
        var depths = new List<double>();
        for (int k = 1; k <= model.Config.NumNextnPredictLayers && k < t; k++)
        {
            long len = t - k;
            (previous, var mtpLogits) = MtpDepth(model, k, ids.narrow(1, k, len), previous.narrow(1, 0, len));
            depths.Add(CrossEntropyByHand(mtpLogits, targets.narrow(1, k, len)));
        }
        return (main, [.. depths]);
    }
}
