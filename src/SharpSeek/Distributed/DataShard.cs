namespace SharpSeek.Distributed;

/// <summary>
/// Which share of every global training batch this process trains on (data parallelism, Li et al. 2020): rank
/// <see cref="Rank"/> of <see cref="Size"/> keeps items [Rank·B/N, (Rank+1)·B/N) of each global batch of B items, which every
/// rank draws identically from the same seeded stream, so N ranks × B/N see exactly the batch of 1 process × B and the
/// sampling position (saved in checkpoints) is the global one. <see cref="Whole"/> is one process.
/// </summary>
public sealed record DataShard(int Rank, int Size)
{
    /// <summary>One process: the whole batch.</summary>
    public static readonly DataShard Whole = new(0, 1);

    /// <summary>
    /// The element-wise mean over the ranks of a few host numbers (in place; a collective every rank calls at the same point),
    /// for the decisions an objective must take alike on every rank (PPO's adaptive β, its KL early stop). Null: one process.
    /// </summary>
    public Action<double[]>? Average { get; init; }

    /// <summary>True for a share of more than one rank.</summary>
    public bool IsSplit => Size > 1;

    /// <summary>The shard of rank <paramref name="rank"/> of <paramref name="size"/> (checked).</summary>
    public static DataShard Of(int rank, int size)
    {
        if (size < 1 || rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} of {size}");
        return new DataShard(rank, size);
    }

    /// <summary>
    /// Throws <see cref="ConfigException"/> unless <paramref name="count"/> (the global <paramref name="name"/>, e.g.
    /// "batch_size") splits evenly over the ranks.
    /// </summary>
    public void CheckDivisible(string name, int count)
    {
        if (count % Size != 0)
            throw new ConfigException($"{name} {count} does not split evenly over {Size} ranks; choose a multiple of {Size}");
    }

    /// <summary>Items per rank of a global batch of <paramref name="count"/> (which must split evenly).</summary>
    public int Per(int count) => count / Size;

    /// <summary>This rank's first item of a global batch of <paramref name="count"/>.</summary>
    public int Start(int count) => Rank * (count / Size);

    /// <summary>This rank's items [Rank·B/N, (Rank+1)·B/N) of the global batch <paramref name="items"/>.</summary>
    public List<T> Slice<T>(IReadOnlyList<T> items)
    {
        if (items.Count % Size != 0) throw new ArgumentException($"{items.Count} items do not split over {Size} ranks", nameof(items));
        int per = items.Count / Size;
        var slice = new List<T>(per);
        for (int i = Rank * per; i < (Rank + 1) * per; i++) slice.Add(items[i]);
        return slice;
    }

    /// <summary>The mean over the ranks of <paramref name="values"/> (unchanged on one process).</summary>
    public void AverageInPlace(double[] values)
    {
        if (!IsSplit) return;
        (Average ?? throw new InvalidOperationException($"a shard of {Size} ranks needs Average to agree on {values.Length} values"))(values);
    }
}
