namespace SharpSeek.Distributed;

/// <summary>
/// Groups parameters into all-reduce buckets (PyTorch DDP's gradient bucketing, Li et al. 2020 §3.2.3): consecutive
/// parameters fill a bucket until it would exceed the cap; a parameter larger than the cap gets a bucket of its own.
/// </summary>
public static class GradientBuckets
{
    /// <summary>Default cap: 25 MiB of fp32 (DDP's bucket_cap_mb = 25).</summary>
    public const long DefaultCapElements = 25L * 1024 * 1024 / sizeof(float);

    /// <summary>Largest element count of one MPI call (its count is a C int).</summary>
    public const long MaxCallElements = int.MaxValue;

    /// <summary>The index ranges [Start, End) of <paramref name="sizes"/> in each bucket, in order.</summary>
    public static IReadOnlyList<(int Start, int End)> Plan(IReadOnlyList<long> sizes, long capElements)
    {
        if (capElements <= 0) throw new ArgumentOutOfRangeException(nameof(capElements), "the bucket cap must be positive");
        var buckets = new List<(int, int)>();
        int start = 0;
        long filled = 0;
        for (int i = 0; i < sizes.Count; i++)
        {
            if (i > start && filled + sizes[i] > capElements)
            {
                buckets.Add((start, i));
                start = i; filled = 0;
            }
            filled += sizes[i];
        }
        if (start < sizes.Count) buckets.Add((start, sizes.Count));
        return buckets;
    }
}
