namespace SharpSeek.Data;

/// <summary>SplitMix64 (Steele, Lea &amp; Flood 2014): a tiny seeded generator whose whole state is one ulong, so it checkpoints exactly.</summary>
public sealed class SplitMix64
{
    public ulong State { get; set; }

    public SplitMix64(ulong seed) { State = seed; }

    public ulong Next()
    {
        ulong z = State += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform integer in [0, <paramref name="bound"/>) (Lemire's multiply-shift; bias below 2^-32 for the sizes used here).</summary>
    public long NextLong(long bound) => (long)(((UInt128)Next() * (ulong)bound) >> 64);
}
