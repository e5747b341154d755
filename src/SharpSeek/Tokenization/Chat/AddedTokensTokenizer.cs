namespace SharpSeek.Tokenization.Chat;

/// <summary>
/// A tokenizer plus added special tokens (a chat template's markers): each is matched whole before the inner tokenizer
/// sees the text (<see cref="SpecialTokenSplitter"/>, Hugging Face's added vocabulary), never split, and decoded back.
/// Tokens the inner tokenizer already encodes as one id keep that id; the others get ids appended after its vocabulary,
/// in the order given. Works over any <see cref="ITextTokenizer"/> (HfTokenizer, the byte tokenizer, GPT-2, char).
/// </summary>
public sealed class AddedTokensTokenizer : ITextTokenizer
{
    private readonly ITextTokenizer _inner;
    private readonly SpecialTokenSplitter _splitter;
    private readonly Dictionary<int, string> _newById = new();

    public AddedTokensTokenizer(ITextTokenizer inner, IEnumerable<string> tokens)
    {
        _inner = inner;
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var next = inner.VocabSize;
        foreach (var token in tokens)
        {
            if (token.Length == 0) throw new TokenizerException("An added token cannot be empty.");
            if (ids.ContainsKey(token)) continue;
            if (ExistingId(inner, token) is int id) { ids[token] = id; continue; }
            ids[token] = next;
            _newById[next++] = token;
        }
        _splitter = new SpecialTokenSplitter(ids);
        VocabSize = next;
    }

    /// <summary>The tokens and their ids (existing and appended).</summary>
    public IReadOnlyDictionary<string, int> AddedTokens => _splitter.Tokens;

    /// <summary>Ids appended after the inner vocabulary (the embedding rows a model must grow by).</summary>
    public int NewTokenCount => _newById.Count;

    public ITextTokenizer Inner => _inner;
    public int VocabSize { get; }
    public int? BosId => _inner.BosId;
    public int? EosId => _inner.EosId;
    public int? PadId => _inner.PadId;

    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (var (offset, length, id) in _splitter.Split(text))
        {
            if (id is int special) ids.Add(special);
            else ids.AddRange(_inner.Encode(text.Substring(offset, length)));
        }
        return ids;
    }

    public string Decode(IEnumerable<int> ids)
    {
        var sb = new System.Text.StringBuilder();
        var run = new List<int>();
        foreach (var id in ids)
        {
            if (_newById.TryGetValue(id, out var token))
            {
                if (run.Count > 0) { sb.Append(_inner.Decode(run)); run.Clear(); }
                sb.Append(token);
            }
            else run.Add(id);
        }
        if (run.Count > 0) sb.Append(_inner.Decode(run));
        return sb.ToString();
    }

    /// <summary>The inner tokenizer's one id for <paramref name="token"/>, if it encodes it to exactly one id that decodes back.</summary>
    internal static int? ExistingId(ITextTokenizer tokenizer, string token)
    {
        IReadOnlyList<int> ids;
        try { ids = tokenizer.Encode(token); }
        catch (TokenizerException) { return null; }
        return ids.Count == 1 && tokenizer.Decode(ids) == token ? ids[0] : null;
    }
}
