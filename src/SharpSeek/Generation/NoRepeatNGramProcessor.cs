using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Generation;

/// <summary>
/// Bans every token that would complete an n-gram already present in the row, so no n-gram occurs twice
/// (Paulus et al. 2017; Hugging Face <c>NoRepeatNGramLogitsProcessor</c>). Keeps per-row n-gram tables and reads only the
/// new columns of <c>inputIds</c> each step; columns before a row's start (left padding) are ignored.
/// </summary>
public sealed class NoRepeatNGramProcessor : IRowStatefulLogitsProcessor
{
    private readonly int _n;
    private int[]? _rowStarts;
    private Row[] _rows = [];
    private long _seenColumns;

    /// <param name="n">N-gram size (≥ 1).</param>
    /// <param name="rowStarts">First real column of each row (left padding before it); null = no padding.</param>
    public NoRepeatNGramProcessor(int n, IReadOnlyList<int>? rowStarts = null)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n));
        _n = n;
        _rowStarts = rowStarts?.ToArray();
    }

    public Tensor Process(Tensor inputIds, Tensor logits)                        // inputIds: (B, T), logits: (B, V)
    {
        int b = (int)inputIds.shape[0];
        long t = inputIds.shape[1];
        if (_rows.Length != b || t < _seenColumns)
        {
            _rows = Enumerable.Range(0, b).Select(_ => new Row()).ToArray();
            _seenColumns = 0;
        }
        if (t > _seenColumns) Ingest(inputIds, t);

        var banRows = new List<long>();
        var banTokens = new List<long>();
        for (int r = 0; r < b; r++)
        {
            var row = _rows[r];
            if (row.Tokens.Count + 1 < _n) continue;
            if (!row.Next.TryGetValue(Key(row.Tokens, row.Tokens.Count - (_n - 1)), out var banned)) continue;
            foreach (int tok in banned) { banRows.Add(r); banTokens.Add(tok); }
        }
        if (banRows.Count == 0) return logits.alias();
        using var scope = torch.NewDisposeScope();
        var rows = torch.tensor(banRows.ToArray(), device: logits.device);
        var cols = torch.tensor(banTokens.ToArray(), device: logits.device);
        var result = logits.clone();
        result.index_put_(torch.tensor(double.NegativeInfinity, dtype: logits.dtype, device: logits.device), rows, cols);
        return result.MoveToOuterDisposeScope();
    }

    public void ReorderRows(IReadOnlyList<int> rowIndices)
    {
        var used = new bool[_rows.Length];
        var next = new Row[rowIndices.Count];
        for (int i = 0; i < next.Length; i++)
        {
            int src = rowIndices[i];
            next[i] = used[src] ? _rows[src].Clone() : _rows[src];
            used[src] = true;
        }
        if (_rowStarts != null) _rowStarts = rowIndices.Select(i => _rowStarts[i]).ToArray();
        _rows = next;
    }

    private void Ingest(Tensor inputIds, long t)
    {
        long from = _seenColumns, width = t - from;
        long[] ids;
        using (var fresh = inputIds.narrow(1, from, width).to(ScalarType.Int64).cpu().contiguous())   // (B, width)
            ids = fresh.data<long>().ToArray();
        for (int r = 0; r < _rows.Length; r++)
        {
            int start = _rowStarts?[r] ?? 0;
            for (long c = 0; c < width; c++)
                if (from + c >= start) Add(_rows[r], (int)ids[r * width + c]);
        }
        _seenColumns = t;
    }

    private void Add(Row row, int token)
    {
        row.Tokens.Add(token);
        if (row.Tokens.Count < _n) return;
        string key = Key(row.Tokens, row.Tokens.Count - _n);
        if (!row.Next.TryGetValue(key, out var set)) row.Next[key] = set = new HashSet<int>();
        set.Add(token);
    }

    /// <summary>The n−1 tokens from <paramref name="start"/> as a string key (two chars per id).</summary>
    private string Key(List<int> tokens, int start)
    {
        Span<char> chars = _n <= 64 ? stackalloc char[2 * (_n - 1)] : new char[2 * (_n - 1)];
        for (int i = 0; i < _n - 1; i++)
        {
            int id = tokens[start + i];
            chars[2 * i] = (char)(id >> 16);
            chars[2 * i + 1] = (char)(id & 0xFFFF);
        }
        return new string(chars);
    }

    private sealed class Row
    {
        public List<int> Tokens = new();
        public Dictionary<string, HashSet<int>> Next = new(StringComparer.Ordinal);

        public Row Clone() => new()
        {
            Tokens = new List<int>(Tokens),
            Next = Next.ToDictionary(kv => kv.Key, kv => new HashSet<int>(kv.Value), StringComparer.Ordinal),
        };
    }
}
