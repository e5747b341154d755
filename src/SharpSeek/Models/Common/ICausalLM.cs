using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// A decoder-only language model: token ids in, next-token logits out, with an optional KV cache.
/// Implemented by <c>Gpt2LMHeadModel</c> and <c>DeepSeekV3ForCausalLM</c>.
/// </summary>
public interface ICausalLM
{
    /// <summary>Size of the output distribution (logits' last dimension).</summary>
    int VocabSize { get; }

    /// <summary>Longest sequence (prompt + generated) the model accepts: n_positions / max_position_embeddings.</summary>
    int MaxSequenceLength { get; }

    /// <summary>Device holding the weights.</summary>
    Device Device { get; }

    /// <summary>
    /// Runs the model on <paramref name="inputIds"/> (B, T) int64 and returns logits (B, T, V) float32.
    /// With a <paramref name="cache"/>, the T new tokens attend to the cached ones and are appended to it
    /// (their positions start at <c>cache.Length</c>). <paramref name="attentionMask"/>, if given, is (B, past + T)
    /// with 1 for real tokens and 0 for (left) padding: padded keys are never attended to and positions count
    /// only real tokens, as Hugging Face does with position_ids = cumsum(mask) - 1.
    /// </summary>
    Tensor Forward(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null);

    /// <summary>A new, empty KV cache for <paramref name="batchSize"/> rows of up to <paramref name="capacity"/> tokens.</summary>
    KvCache CreateKvCache(int batchSize, int capacity);

    /// <summary>Writes config.json + model.safetensors in the Hugging Face layout (atomically, file by file).</summary>
    void SavePretrained(string directory);
}

/// <summary>Per-layer keys and values of the tokens seen so far, so decoding runs one new token per step.</summary>
public abstract class KvCache : IDisposable
{
    /// <summary>Number of tokens (positions) stored, the same for every row.</summary>
    public int Length { get; protected set; }

    /// <summary>Most tokens this cache can hold.</summary>
    public abstract int Capacity { get; }

    /// <summary>Rows of the batch.</summary>
    public abstract int BatchSize { get; }

    /// <summary>Bytes of cache written per token per row (all layers).</summary>
    public abstract long BytesPerToken { get; }

    /// <summary>Keeps/duplicates rows: row i of the result is row <paramref name="rowIndices"/>[i] (beam search).</summary>
    public abstract void Reorder(Tensor rowIndices);

    /// <summary>Forgets tokens past <paramref name="length"/> (speculative decoding rolls back rejected tokens).</summary>
    public virtual void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        Length = length;
    }

    public abstract void Dispose();
}
