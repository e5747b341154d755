namespace SharpSeek.Data.Chat;

/// <summary>One encoded SFT sample: ids and next-token targets (ignored positions = −100), at most block_size long.</summary>
public sealed record SftSample(int[] Ids, long[] Targets)
{
    public int Length => Ids.Length;

    /// <summary>Targets that are not ignored (the tokens the sample teaches).</summary>
    public int Supervised => Targets.Count(t => t >= 0);
}

/// <summary>
/// One training row of block_size tokens: input ids, targets (−100 = no loss) and a segment id per position (samples packed
/// into the row are segments 0, 1, …; padding is its own segment −1, so no token attends across samples).
/// </summary>
public sealed record SftRow(long[] Ids, long[] Targets, long[] Segments)
{
    public int Supervised => Targets.Count(t => t >= 0);
}

/// <summary>Rows from samples: greedy packing (several samples per row) or one right-padded sample per row.</summary>
public static class SftRows
{
    /// <summary>
    /// Samples in the given order, each at most <paramref name="blockSize"/> long, laid into rows of
    /// <paramref name="blockSize"/>: with <paramref name="packing"/> each sample goes into the current row while it fits and
    /// otherwise starts the next (first-fit in order, as TRL's packing without splitting samples); without, one sample per
    /// row. The rest of a row is padding (<paramref name="padId"/>, targets −100, segment −1).
    /// </summary>
    public static List<SftRow> Build(IReadOnlyList<SftSample> samples, int blockSize, bool packing, int padId, long ignoreIndex = -100)
    {
        var rows = new List<SftRow>();
        long[]? ids = null, targets = null, segments = null;
        int used = 0, segment = 0;
        void Flush()
        {
            if (ids is null) return;
            for (int i = used; i < blockSize; i++) { ids[i] = padId; targets![i] = ignoreIndex; segments![i] = -1; }
            rows.Add(new SftRow(ids, targets!, segments!));
            ids = null;
        }
        foreach (var s in samples)
        {
            if (s.Length > blockSize) throw new ArgumentException($"sample of {s.Length} tokens is longer than block_size {blockSize}", nameof(samples));
            if (ids is not null && (!packing || used + s.Length > blockSize)) Flush();
            if (ids is null) { ids = new long[blockSize]; targets = new long[blockSize]; segments = new long[blockSize]; used = 0; segment = 0; }
            for (int i = 0; i < s.Length; i++)
            {
                ids[used + i] = s.Ids[i];
                targets![used + i] = s.Targets[i];
                segments![used + i] = segment;
            }
            used += s.Length;
            segment++;
        }
        Flush();
        return rows;
    }
}
