using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// What a causal LM forward is asked for (Hugging Face's forward arguments): ids, mask, positions, cache, and which extra
/// outputs to return. One record for every family, so callers never need to know which model they hold.
/// </summary>
public sealed record CausalLMInput(Tensor InputIds)
{
    /// <summary>(B, past + T) 1 for real tokens, 0 for (left) padding; padded keys are never attended to. Null = all real.</summary>
    public Tensor? AttentionMask { get; init; }

    /// <summary>
    /// (B, past + T) segment of each token, for several samples packed into one row: a token attends only to earlier tokens
    /// of its own segment and positions restart at 0 where a segment starts (unless <see cref="PositionIds"/> is given).
    /// Null = one sequence per row.
    /// </summary>
    public Tensor? SegmentIds { get; init; }

    /// <summary>(B, T) int64 positions; null = cumsum(mask) − 1 with a mask, else cache.Length + 0..T−1 (as Hugging Face).</summary>
    public Tensor? PositionIds { get; init; }

    /// <summary>KV cache of the tokens seen so far; the T new tokens follow them and are appended.</summary>
    public KvCache? Cache { get; init; }

    /// <summary>Return <see cref="CausalLMOutput.HiddenStates"/> (embeddings + every block) and <see cref="CausalLMOutput.ResidualState"/>.</summary>
    public bool OutputHiddenStates { get; init; }

    /// <summary>Return <see cref="CausalLMOutput.Attentions"/>: per layer the attention probabilities (B, H, T, S).</summary>
    public bool OutputAttentions { get; init; }

    /// <summary>Return <see cref="CausalLMOutput.Trace"/>: the reference fixtures' debug tensors and routing.</summary>
    public bool OutputTrace { get; init; }

    /// <summary>False = hidden states only (a fused head + loss, or another head, uses <see cref="CausalLMOutput.LastHiddenState"/>).</summary>
    public bool ComputeLogits { get; init; } = true;

    /// <summary>0 = logits at every position; k = at the last k positions only (generation uses 1).</summary>
    public int LogitsToKeep { get; init; }

    /// <summary>Also return the multi-token-prediction modules' logits (<see cref="CausalLMOutput.MtpLogits"/>), for training.</summary>
    public bool OutputMtp { get; init; }
}

/// <summary>
/// What a causal LM forward returns. Tensors belong to the dispose scope the forward ran in (the trace is detached);
/// <see cref="Dispose"/> frees what it holds.
/// </summary>
public sealed class CausalLMOutput : IDisposable
{
    /// <summary>(B, T, V) next-token logits in the weights' dtype (T = LogitsToKeep when set); null when not asked for.</summary>
    public Tensor? Logits { get; private set; }

    /// <summary>(B, T, C) the output head's input: the last block's output after the final norm.</summary>
    public required Tensor LastHiddenState { get; init; }

    /// <summary>Embeddings, then each block's output, the last one after the final norm (Hugging Face's convention): n_layer + 1 tensors (B, T, C).</summary>
    public IReadOnlyList<Tensor>? HiddenStates { get; init; }

    /// <summary>(B, T, C) residual stream after the last block, before the final norm (what DeepSeek's MTP modules start from).</summary>
    public Tensor? ResidualState { get; init; }

    /// <summary>Per layer the attention probabilities (B, H, T, S), S = past + T.</summary>
    public IReadOnlyList<Tensor>? Attentions { get; init; }

    /// <summary>Scalar tensors a training loss adds (DeepSeek's sequence-wise MoE balance losses α·Σ f·P in training mode).</summary>
    public IReadOnlyList<Tensor> AuxiliaryLosses { get; init; } = [];

    /// <summary>Logits of multi-token-prediction depth k = 1..D: (B, T − k, V), predicting the token k + 1 ahead.</summary>
    public IReadOnlyList<Tensor>? MtpLogits { get; init; }

    /// <summary>Reference-test debug tensors (detached copies).</summary>
    public ModelTrace? Trace { get; init; }

    public CausalLMOutput(Tensor? logits) { Logits = logits; }

    /// <summary>The logits, which this output then no longer holds (its Dispose leaves them alone).</summary>
    public Tensor TakeLogits()
    {
        var logits = Logits ?? throw new InvalidOperationException("the forward was asked for no logits");
        Logits = null;
        return logits;
    }

    public void Dispose()
    {
        Logits?.Dispose();
        LastHiddenState.Dispose();
        ResidualState?.Dispose();
        foreach (var t in HiddenStates ?? []) t.Dispose();
        foreach (var t in Attentions ?? []) t.Dispose();
        foreach (var t in AuxiliaryLosses) t.Dispose();
        foreach (var t in MtpLogits ?? []) t.Dispose();
        Trace?.Dispose();
    }
}

/// <summary>Intermediate tensors of one forward for reference tests (names as in the fixtures' expected.safetensors).</summary>
public sealed class ModelTrace : IDisposable
{
    /// <summary>embed_out, block_out.{i}, ln_f_out / norm_out, router_weights.{i}: detached copies.</summary>
    public Dictionary<string, Tensor> Tensors { get; } = new(StringComparer.Ordinal);

    /// <summary>Chosen experts (B, T, k) per MoE layer, ordered by descending biased score.</summary>
    public Dictionary<int, Tensor> RoutingIndices { get; } = new();

    /// <summary>Keeps a detached copy of <paramref name="t"/> under <paramref name="name"/>.</summary>
    public void Add(string name, Tensor t) => Tensors.Add(name, t.detach().clone().DetachFromDisposeScope());

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
        foreach (var t in RoutingIndices.Values) t.Dispose();
    }
}

/// <summary>
/// A decoder-only language model: one forward (<see cref="CausalLMInput"/> → <see cref="CausalLMOutput"/>), its cache, its
/// output head and its compute dtype. Implemented by <c>Gpt2LMHeadModel</c> and <c>DeepSeekV3ForCausalLM</c>. Models
/// compute no training loss; objectives (SharpSeek.Training.Objectives) do.
/// </summary>
public abstract class CausalLM : nn.Module<CausalLMInput, CausalLMOutput>
{
    private ScalarType _computeDType = ScalarType.Float32;

    protected CausalLM(string name) : base(name) { }

    /// <summary>Size of the output distribution (logits' last dimension).</summary>
    public abstract int VocabSize { get; }

    /// <summary>Width of the hidden states (C).</summary>
    public abstract int HiddenSize { get; }

    /// <summary>Longest sequence (prompt + generated) the model accepts: n_positions / max_position_embeddings.</summary>
    public abstract int MaxSequenceLength { get; }

    /// <summary>config.json's model_type.</summary>
    public abstract string ModelType { get; }

    /// <summary>Device holding the weights.</summary>
    public virtual Device Device => OutputHead.WeightDevice;

    /// <summary>How the weights are quantized (config.json's quantization_config); null for a float model.</summary>
    public SharpSeek.Quantization.QuantizationConfig? Quantization { get; internal set; }

    /// <summary>The output head (for GPT-2 with tied embeddings a view of wte), for fused head + loss and other heads.</summary>
    public abstract Projection OutputHead { get; }

    /// <summary>A new, empty KV cache for <paramref name="batchSize"/> rows of up to <paramref name="capacity"/> tokens.</summary>
    public abstract KvCache CreateKvCache(int batchSize, int capacity);

    /// <summary>Writes config.json + model.safetensors in the Hugging Face layout (atomically, file by file).</summary>
    public abstract void SavePretrained(string directory);

    /// <summary>
    /// Dtype of the matmuls (mixed precision, Micikevicius et al. 2018): Float32 (default) or BFloat16, with float32 master
    /// weights, residual stream, norms and softmax; gradients reach the weights in float32.
    /// </summary>
    public ScalarType ComputeDType
    {
        get => _computeDType;
        set { _computeDType = value; OnComputeDTypeChanged(value == ScalarType.Float32 ? null : value); }
    }

    /// <summary>Switches every <see cref="Projection"/> of the model; families override to switch more (and call this).</summary>
    protected virtual void OnComputeDTypeChanged(ScalarType? dtype)
    {
        foreach (var m in modules()) if (m is Projection p) p.ComputeDType = dtype;
        OutputHead.ComputeDType = dtype;
    }

    /// <summary>Records a new vocabulary size in the config after <see cref="VocabGrowth"/> resized the token rows.</summary>
    internal virtual void SetVocabSize(int vocabSize) =>
        throw new ConfigException($"{ModelType} models cannot change their vocabulary size.");

    /// <summary>
    /// Called by the trainer once after every optimizer step, outside autograd (DeepSeek: aux-loss-free router bias update).
    /// <paramref name="sumOverRanks"/>, when several replicas train together, replaces counts gathered by this replica by their
    /// element-wise sum over all replicas (in place), so every replica makes the same update; it must then be called the
    /// same number of times on every replica.
    /// </summary>
    public virtual void AfterOptimizerStep(Action<long[]>? sumOverRanks = null) { }

    /// <summary>Max/mean routed-token count per MoE layer over the last optimizer step (1 = balanced); empty for dense models.</summary>
    public virtual IReadOnlyList<double> ExpertLoadImbalance => [];
}

/// <summary>The one convenience wrapper over <see cref="CausalLM"/>'s forward.</summary>
public static class CausalLMExtensions
{
    /// <summary>Logits (B, T, V) for ids (B, T), optionally after cached tokens and with a (B, past + T) attention mask.</summary>
    public static Tensor Logits(this CausalLM model, Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null)
    {
        using var output = model.call(new CausalLMInput(inputIds) { Cache = cache, AttentionMask = attentionMask });
        return output.TakeLogits();
    }
}
