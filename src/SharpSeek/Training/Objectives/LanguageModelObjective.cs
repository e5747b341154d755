using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// The pretraining objective of a causal LM: next-token cross-entropy of the main head, + (λ/D)·Σ_k CE_k of the
/// multi-token-prediction depths (DeepSeek-V3 §2.2, eq. 24–25: depth k predicts the targets shifted by k), + the model's
/// auxiliary losses (DeepSeek-V3's sequence-wise balance losses, §2.1.2 eq. 17–20). Validation reports the main head alone.
/// </summary>
public static class LanguageModelObjective
{
    /// <summary>
    /// Scalar float32 training loss of predicting <paramref name="targets"/> (B, T) (entries
    /// <see cref="LanguageModelLoss.IgnoreIndex"/> skipped) from <paramref name="inputIds"/> (B, T). In mixed precision with
    /// a plain matrix head, head and loss are fused (<see cref="LanguageModelLoss.LinearCrossEntropy"/>) so the (B·T, V)
    /// logits never exist in float32.
    /// </summary>
    public static Tensor Loss(CausalLM model, Tensor inputIds, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var head = model.OutputHead;
        bool fused = model.ComputeDType != ScalarType.Float32 && head.IsPlainMatrix && is_grad_enabled();
        bool mtp = model is IMultiTokenPredictor { MtpDepth: > 0, MtpLossWeight: > 0 };
        using var output = model.call(new CausalLMInput(inputIds) { ComputeLogits = !fused, OutputMtp = mtp });
        var h = output.LastHiddenState;                                                                   // (B, T, C)
        var loss = fused
            ? LanguageModelLoss.LinearCrossEntropy(h.reshape(-1, h.shape[^1]), head.Weight, targets.reshape(-1), model.ComputeDType)   // h as (B·T, C)
            : CrossEntropy(output.Logits!, targets);
        if (mtp && output.MtpLogits is { Count: > 0 } mtpLogits)
        {
            var predictor = (IMultiTokenPredictor)model;
            loss = loss + MtpTerm(mtpLogits, targets, predictor.MtpLossWeight, predictor.MtpDepth);
        }
        foreach (var aux in output.AuxiliaryLosses) loss = loss + aux;
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>(λ/D)·Σ_k CE(logits_k (B, T−k, V), targets shifted by k): depth k at position i predicts targets[i + k].</summary>
    public static Tensor MtpTerm(IReadOnlyList<Tensor> mtpLogits, Tensor targets, double weight, int depth)
    {
        using var scope = NewDisposeScope();
        long t = targets.shape[1];
        Tensor? sum = null;
        for (int k = 1; k <= mtpLogits.Count; k++)
        {
            var ce = CrossEntropy(mtpLogits[k - 1], targets.narrow(1, k, t - k));
            sum = sum is null ? ce : sum + ce;
        }
        return (sum! * (weight / depth)).MoveToOuterDisposeScope();
    }

    /// <summary>Mean cross-entropy of the main output head alone (validation loss and perplexity): no MTP, no auxiliary terms.</summary>
    public static Tensor MainHeadCrossEntropy(CausalLM model, Tensor inputIds, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var logits = model.Logits(inputIds);                                                              // (B, T, V)
        return CrossEntropy(logits, targets).MoveToOuterDisposeScope();
    }

    private static Tensor CrossEntropy(Tensor logits, Tensor targets) =>
        LanguageModelLoss.CrossEntropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1));        // (B·T, V)
}
