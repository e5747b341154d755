using SharpSeek.Data;
using static TorchSharp.torch;

namespace SharpSeek.Distributed;

/// <summary>
/// This rank's share of every global training batch: every rank draws the same global (B, T) batch from the same seeded
/// stream and keeps rows [rank·B/N, (rank+1)·B/N), so N ranks × B/N see exactly the batch of 1 rank × B and the sampling
/// position (saved in checkpoints) is the global one. Validation batches are not split: every rank evaluates the whole batch.
/// </summary>
public sealed class ShardedBatchSource : IBatchSource
{
    private readonly IBatchSource _inner;

    private readonly DataShard _shard;

    public int Rank => _shard.Rank;
    public int Size => _shard.Size;

    /// <summary>Rank <paramref name="rank"/> of <paramref name="size"/> over <paramref name="inner"/> (not owned).</summary>
    public ShardedBatchSource(IBatchSource inner, int rank, int size)
    {
        _inner = inner;
        _shard = DataShard.Of(rank, size);
    }

    /// <summary>Throws <see cref="ConfigException"/> unless <paramref name="batchSize"/> splits evenly over <paramref name="size"/> ranks.</summary>
    public static void CheckDivisible(int batchSize, int size) => DataShard.Of(0, size).CheckDivisible("batch_size", batchSize);

    /// <summary>Rows [rank·B/N, (rank+1)·B/N) of a global batch of <paramref name="batchSize"/> rows.</summary>
    public static (long Start, long Length) Rows(int batchSize, int rank, int size)
    {
        var shard = DataShard.Of(rank, size);
        shard.CheckDivisible("batch_size", batchSize);
        return (shard.Start(batchSize), shard.Per(batchSize));
    }

    public int VocabSize => _inner.VocabSize;

    public long TokenCount(DataSplit split) => _inner.TokenCount(split);

    public (Tensor Inputs, Tensor Targets) SampleBatch(DataSplit split, int batchSize, int blockSize)
    {
        var (x, y) = _inner.SampleBatch(split, batchSize, blockSize);   // (B, T), (B, T)
        if (split != DataSplit.Train || Size == 1) return (x, y);
        var (start, length) = Rows(batchSize, Rank, Size);
        return (x.narrow(0, start, length), y.narrow(0, start, length));   // (B/N, T), (B/N, T)
    }

    public void Reseed(DataSplit split, ulong seed) => _inner.Reseed(split, seed);

    public string SaveState() => _inner.SaveState();

    public void RestoreState(string state) => _inner.RestoreState(state);
}
