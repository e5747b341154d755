using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// A causal LM with multi-token-prediction modules (DeepSeek-V3 §2.2): depth k predicts the token k + 1 ahead from the
/// previous depth's states. Training reads their logits through <see cref="CausalLMInput.OutputMtp"/>; self-speculative
/// decoding drafts with <see cref="MtpForward"/>, starting from the main forward's <see cref="CausalLMOutput.ResidualState"/>.
/// </summary>
public interface IMultiTokenPredictor
{
    /// <summary>Number of MTP modules (D).</summary>
    int MtpDepth { get; }

    /// <summary>λ: the MTP losses enter training as (λ / D)·Σ_k CE_k.</summary>
    double MtpLossWeight { get; }

    /// <summary>An empty cache for one MTP module's attention.</summary>
    KvCache CreateMtpKvCache(int batchSize, int capacity);

    /// <summary>
    /// MTP module <paramref name="module"/> over the next tokens <paramref name="nextIds"/> (B, T) and the previous depth's
    /// states <paramref name="previous"/> (B, T, C), after the tokens in <paramref name="cache"/>: its states (B, T, C) and
    /// logits (B, T, V).
    /// </summary>
    (Tensor Hidden, Tensor Logits) MtpForward(int module, Tensor nextIds, Tensor previous, KvCache cache);
}
