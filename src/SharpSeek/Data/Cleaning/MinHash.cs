using System.Numerics;
using System.Runtime.InteropServices;

namespace SharpSeek.Data.Cleaning;

/// <summary>
/// MinHash signatures of character-shingle sets (Broder 1997) and banded locality-sensitive hashing (Leskovec et al.,
/// Mining of Massive Datasets §3.4), as used for near-duplicate removal in GPT-3 and The Pile: two documents' signatures
/// agree in a position with probability equal to the Jaccard similarity of their shingle sets.
/// </summary>
public sealed class MinHash
{
    private readonly uint[] _seeds;                                   // padded to a whole number of vectors
    private readonly int _permutations;

    /// <summary>Shingle length in characters (over lower-cased text with white space collapsed): 5 suits English and Chinese alike.</summary>
    public int ShingleLength { get; }

    public int Permutations => _permutations;

    public MinHash(int permutations = 128, int shingleLength = 5, ulong seed = 42)
    {
        if (permutations < 1) throw new ConfigException($"MinHash needs at least 1 permutation, not {permutations}");
        if (shingleLength < 1) throw new ConfigException($"shingles need at least 1 character, not {shingleLength}");
        ShingleLength = shingleLength;
        _permutations = permutations;
        int w = Vector<uint>.Count, padded = (permutations + w - 1) / w * w;
        var rng = new SplitMix64(seed);
        _seeds = new uint[padded];
        for (int i = 0; i < padded; i++) _seeds[i] = (uint)rng.Next();
    }

    /// <summary>
    /// Permutation <paramref name="i"/>'s hash of a shingle hash: MurmurHash3's 32-bit finaliser of (x folded to 32 bits) XOR
    /// seed_i, a bijection of 32-bit values per seed that vectorises (8 or 16 permutations per instruction).
    /// </summary>
    public uint Permute(int i, ulong x) => Mix((uint)(x ^ (x >> 32)) ^ _seeds[i]);

    /// <summary>MurmurHash3 fmix32.</summary>
    public static uint Mix(uint h)
    {
        h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16;
        return h;
    }

    /// <summary>
    /// The set of 64-bit hashes of every <paramref name="k"/>-character window of <paramref name="text"/> lower-cased with white space
    /// runs collapsed to one space (the whole text when shorter than k; empty for empty text).
    /// </summary>
    public static HashSet<ulong> Shingles(string text, int k)
    {
        var norm = new System.Text.StringBuilder(text.Length);
        foreach (char c in text)
        {
            if (char.IsWhiteSpace(c)) { if (norm.Length > 0 && norm[^1] != ' ') norm.Append(' '); }
            else norm.Append(char.ToLowerInvariant(c));
        }
        string s = norm.ToString().Trim();
        var set = new HashSet<ulong>();
        if (s.Length == 0) return set;
        if (s.Length <= k) { set.Add(Fnv(s)); return set; }
        for (int i = 0; i + k <= s.Length; i++) set.Add(Fnv(s.AsSpan(i, k)));
        return set;
    }

    /// <summary>64-bit FNV-1a over the UTF-16 code units (both bytes of each), as <see cref="ExactDeduplicator.Hash"/>.</summary>
    public static ulong Fnv(ReadOnlySpan<char> s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s)
        {
            h = (h ^ (byte)c) * 1099511628211UL;
            h = (h ^ (byte)(c >> 8)) * 1099511628211UL;
        }
        return h;
    }

    /// <summary>Exact Jaccard similarity |A ∩ B| / |A ∪ B| (1 for two empty sets).</summary>
    public static double Jaccard<T>(IReadOnlySet<T> a, IReadOnlySet<T> b)
    {
        if (a.Count == 0 && b.Count == 0) return 1;
        int inter = a.Count <= b.Count ? a.Count(b.Contains) : b.Count(a.Contains);
        return (double)inter / (a.Count + b.Count - inter);
    }

    /// <summary>The signature of <paramref name="text"/>: per permutation the minimum of <see cref="Permute"/> over its shingles.</summary>
    public uint[] Signature(string text) => Signature(Shingles(text, ShingleLength));

    public uint[] Signature(IEnumerable<ulong> shingles)
    {
        int w = Vector<uint>.Count, vectors = _seeds.Length / w;
        var seeds = MemoryMarshal.Cast<uint, Vector<uint>>(_seeds.AsSpan());
        var sig = new Vector<uint>[vectors];
        Array.Fill(sig, new Vector<uint>(uint.MaxValue));
        var c1 = new Vector<uint>(0x85EBCA6B);
        var c2 = new Vector<uint>(0xC2B2AE35);
        foreach (ulong x in shingles)
        {
            var xv = new Vector<uint>((uint)(x ^ (x >> 32)));
            for (int v = 0; v < vectors; v++)
            {
                var h = xv ^ seeds[v];
                h ^= Vector.ShiftRightLogical(h, 16); h *= c1;
                h ^= Vector.ShiftRightLogical(h, 13); h *= c2;
                h ^= Vector.ShiftRightLogical(h, 16);
                sig[v] = Vector.Min(sig[v], h);
            }
        }
        return MemoryMarshal.Cast<Vector<uint>, uint>(sig.AsSpan())[.._permutations].ToArray();
    }

    /// <summary>Share of positions where two signatures agree: an unbiased estimate of the Jaccard similarity.</summary>
    public static double EstimatedJaccard(uint[] a, uint[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException("signatures of different lengths");
        int same = 0;
        for (int i = 0; i < a.Length; i++) if (a[i] == b[i]) same++;
        return (double)same / a.Length;
    }

    /// <summary>
    /// Bands b and rows r (b·r = <paramref name="permutations"/>) whose S-curve threshold (1/b)^(1/r) — the similarity at
    /// which a pair becomes a candidate with probability about ½ — lies closest to <paramref name="threshold"/>.
    /// </summary>
    public static (int Bands, int Rows) ChooseBands(int permutations, double threshold)
    {
        (int, int) best = (permutations, 1);
        double bestGap = double.MaxValue;
        for (int r = 1; r <= permutations; r++)
        {
            if (permutations % r != 0) continue;
            int b = permutations / r;
            double gap = Math.Abs(Math.Pow(1.0 / b, 1.0 / r) - threshold);
            if (gap < bestGap) { bestGap = gap; best = (b, r); }
        }
        return best;
    }
}

/// <summary>
/// Banded LSH index over MinHash signatures: a document is a candidate near-duplicate of an indexed one when some band of
/// rows hashes alike; candidates are confirmed by estimated Jaccard ≥ threshold. Holds per kept document its signature
/// and one hash per band (memory grows with the number of documents, not their size).
/// </summary>
public sealed class LshIndex
{
    private readonly int _bands, _rows;
    private readonly double _threshold;
    private readonly Dictionary<(int Band, ulong Hash), List<int>> _buckets = new();
    private readonly List<uint[]> _signatures = new();
    private readonly List<int> _ids = new();

    public LshIndex(int permutations, double threshold)
    {
        if (!(threshold > 0 && threshold <= 1)) throw new ConfigException($"the near-duplicate Jaccard threshold must be in (0, 1], not {threshold}");
        (_bands, _rows) = MinHash.ChooseBands(permutations, threshold);
        _threshold = threshold;
    }

    public int Bands => _bands;
    public int Rows => _rows;

    /// <summary>The id of the first indexed document whose estimated Jaccard with <paramref name="signature"/> reaches the threshold (and that similarity), or null.</summary>
    public (int Id, double Similarity)? FindDuplicate(uint[] signature)
    {
        var seen = new HashSet<int>();
        for (int band = 0; band < _bands; band++)
        {
            if (!_buckets.TryGetValue((band, BandHash(signature, band)), out var list)) continue;
            foreach (int k in list)
            {
                if (!seen.Add(k)) continue;
                double j = MinHash.EstimatedJaccard(signature, _signatures[k]);
                if (j >= _threshold) return (_ids[k], j);
            }
        }
        return null;
    }

    /// <summary>Indexes a kept document under <paramref name="id"/>.</summary>
    public void Add(int id, uint[] signature)
    {
        int k = _signatures.Count;
        _signatures.Add(signature);
        _ids.Add(id);
        for (int band = 0; band < _bands; band++)
        {
            var key = (band, BandHash(signature, band));
            if (!_buckets.TryGetValue(key, out var list)) _buckets[key] = list = new List<int>(1);
            list.Add(k);
        }
    }

    private ulong BandHash(uint[] signature, int band)
    {
        ulong h = 14695981039346656037UL;
        for (int i = band * _rows; i < (band + 1) * _rows; i++) h = (h ^ signature[i]) * 1099511628211UL;
        return h;
    }
}
