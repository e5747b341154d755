using static TorchSharp.torch;

namespace SharpSeek.Data;

/// <summary>Which part of a data set a batch comes from.</summary>
public enum DataSplit { Train, Val }

/// <summary>
/// Random (B, T) windows of a tokenized corpus with next-token targets, as nanoGPT's <c>get_batch</c>.
/// Sampling is seeded and its position can be saved and restored, so a resumed run sees the same batches.
/// </summary>
public interface IBatchSource
{
    /// <summary>Number of distinct token ids the data may contain (the tokenizer's vocabulary).</summary>
    int VocabSize { get; }

    /// <summary>Tokens in <paramref name="split"/>.</summary>
    long TokenCount(DataSplit split);

    /// <summary>Inputs x and targets y (both (B, T) int64, y = x shifted by one) from random offsets in <paramref name="split"/>.</summary>
    (Tensor Inputs, Tensor Targets) SampleBatch(DataSplit split, int batchSize, int blockSize);

    /// <summary>Restarts the sampling stream of <paramref name="split"/> from <paramref name="seed"/>.</summary>
    void Reseed(DataSplit split, ulong seed);

    /// <summary>The sampling position (opaque text), to be stored in a checkpoint.</summary>
    string SaveState();

    /// <summary>Restores a position written by <see cref="SaveState"/>.</summary>
    void RestoreState(string state);
}
