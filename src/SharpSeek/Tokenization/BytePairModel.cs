namespace SharpSeek.Tokenization;

/// <summary>
/// Byte-level BPE model (Sennrich et al. 2016; GPT-2 byte-level variant, Radford et al. 2019): a piece's byte-level
/// characters are merged pairwise, lowest merge rank first, as Hugging Face tokenizers' <c>BPE</c> model does.
/// </summary>
public sealed class BytePairModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly string?[] _idToToken;
    private readonly Dictionary<long, (int Rank, int Merged)> _merges = new();
    private readonly Dictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly Lock _cacheLock = new();

    /// <param name="vocab">Token (byte-level string) → id.</param>
    /// <param name="merges">Merge pairs in rank order.</param>
    /// <param name="ignoreMerges">Hugging Face <c>ignore_merges</c>: a piece that is itself in the vocabulary maps straight to its id.</param>
    public BytePairModel(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges, bool ignoreMerges = false)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        var maxId = _vocab.Count == 0 ? -1 : _vocab.Values.Max();
        if (_vocab.Values.Any(id => id < 0)) throw new TokenizerException("The vocabulary has a negative token id.");
        _idToToken = new string?[maxId + 1];
        foreach (var (token, id) in _vocab)
        {
            if (_idToToken[id] is not null) throw new TokenizerException($"The vocabulary gives id {id} to both '{_idToToken[id]}' and '{token}'.");
            _idToToken[id] = token;
        }
        var rank = 0;
        foreach (var (left, right) in merges)
        {
            if (!_vocab.TryGetValue(left, out var a) || !_vocab.TryGetValue(right, out var b) || !_vocab.TryGetValue(left + right, out var merged))
                throw new TokenizerException($"Merge {rank} ('{left} {right}') uses a token that is not in the vocabulary.");
            _merges.TryAdd(Key(a, b), (rank, merged));
            rank++;
        }
        MergeCount = rank;
        IgnoreMerges = ignoreMerges;
    }

    public int MergeCount { get; }
    public bool IgnoreMerges { get; }
    /// <summary>Largest id + 1.</summary>
    public int IdCount => _idToToken.Length;
    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    public bool TryGetId(string token, out int id) => _vocab.TryGetValue(token, out id);
    public string? TokenOf(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    /// <summary>Appends the ids of one pre-tokenized piece given as a byte-level string.</summary>
    public void EncodePiece(string piece, List<int> output)
    {
        if (piece.Length == 0) return;
        lock (_cacheLock)
            if (_cache.TryGetValue(piece, out var cached)) { output.AddRange(cached); return; }
        var ids = Merge(piece);
        lock (_cacheLock)
        {
            if (_cache.Count > 200_000) _cache.Clear();
            _cache[piece] = ids;
        }
        output.AddRange(ids);
    }

    private int[] Merge(string piece)
    {
        if (IgnoreMerges && _vocab.TryGetValue(piece, out var whole)) return [whole];
        var symbols = new List<int>(piece.Length);
        foreach (var c in piece)
        {
            if (!_vocab.TryGetValue(c.ToString(), out var id))
                throw new TokenizerException($"The vocabulary has no token for the byte-level character U+{(int)c:X4}; it is not a complete byte-level BPE vocabulary.");
            symbols.Add(id);
        }
        while (symbols.Count > 1)
        {
            var bestRank = int.MaxValue;
            var bestAt = -1;
            var bestMerged = 0;
            for (var i = 0; i + 1 < symbols.Count; i++)
                if (_merges.TryGetValue(Key(symbols[i], symbols[i + 1]), out var m) && m.Rank < bestRank)
                    (bestRank, bestAt, bestMerged) = (m.Rank, i, m.Merged);
            if (bestAt < 0) break;
            symbols[bestAt] = bestMerged;
            symbols.RemoveAt(bestAt + 1);
        }
        return symbols.ToArray();
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;
}
