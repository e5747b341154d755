using Microsoft.ML.Tokenizers;

namespace SharpSeek.Tokenization;

/// <summary>
/// GPT-2 byte-level BPE (Radford et al. 2019; OpenAI's encoder.json + vocab.bpe = HF vocab.json + merges.txt) on
/// Microsoft.ML.Tokenizers' BPE model, fed by a code-point-correct GPT-2 pre-tokenizer (<see cref="PreTokenizerPipeline.Gpt2"/>).
/// </summary>
/// <remarks>
/// <see cref="Encode"/> matches <c>&lt;|endoftext|&gt;</c> in the text as the special token, as Hugging Face's GPT-2
/// tokenizer does; <see cref="EncodeOrdinary"/> treats it as plain text (tiktoken's <c>encode_ordinary</c>).
/// </remarks>
public sealed class Gpt2Tokenizer : ITextTokenizer
{
    public const string EndOfText = "<|endoftext|>";

    private readonly BpeTokenizer _bpe;
    private readonly string?[] _idToToken;
    private readonly Dictionary<string, int> _vocab;
    private readonly SpecialTokenSplitter _specials;
    private readonly HashSet<int> _specialIds;

    public Gpt2Tokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges, SpecialTokenNames? config = null)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        // Validates ids and merges with clear errors before the library sees them.
        var model = new BytePairModel(_vocab, merges);
        _idToToken = Enumerable.Range(0, model.IdCount).Select(model.TokenOf).ToArray();
        _bpe = BpeTokenizer.Create(new BpeOptions(_vocab)
        {
            Merges = merges.Select(m => $"{m.Left} {m.Right}"),
            ByteLevel = true,
            PreTokenizer = new CodePointPreTokenizer(PreTokenizerPipeline.Gpt2()),
        });
        var specials = new Dictionary<string, int>();
        if (_vocab.TryGetValue(EndOfText, out var eot)) specials[EndOfText] = eot;
        _specials = new SpecialTokenSplitter(specials);
        _specialIds = [.. specials.Values];

        int? Lookup(string t) => _vocab.TryGetValue(t, out var id) ? id : null;
        var eotId = specials.Count > 0 ? eot : (int?)null;
        BosId = config is null ? eotId : TokenizerFiles.ResolveId(config.Bos, "bos_token", Lookup);
        EosId = config is null ? eotId : TokenizerFiles.ResolveId(config.Eos, "eos_token", Lookup);
        PadId = config is null ? null : TokenizerFiles.ResolveId(config.Pad, "pad_token", Lookup);
    }

    /// <summary>Loads vocab.json + merges.txt (Hugging Face names) or encoder.json + vocab.bpe (OpenAI names), plus tokenizer_config.json if present.</summary>
    public static Gpt2Tokenizer FromFolder(string dir)
    {
        if (!Directory.Exists(dir)) throw new TokenizerException($"Tokenizer folder {dir} does not exist.");
        var (vocabPath, mergesPath) = FindFiles(dir)
            ?? throw new TokenizerException($"{dir} has neither vocab.json + merges.txt nor encoder.json + vocab.bpe.");
        return new Gpt2Tokenizer(TokenizerFiles.ReadVocab(vocabPath), TokenizerFiles.ReadMerges(mergesPath), TokenizerFiles.ReadConfig(dir));
    }

    /// <summary>The (vocab, merges) file pair in <paramref name="dir"/>, if any.</summary>
    public static (string Vocab, string Merges)? FindFiles(string dir)
    {
        foreach (var (v, m) in new[] { ("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe") })
            if (File.Exists(Path.Combine(dir, v)) && File.Exists(Path.Combine(dir, m))) return (Path.Combine(dir, v), Path.Combine(dir, m));
        return null;
    }

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer (plain text, no special-token matching).</summary>
    public Tokenizer Inner => _bpe;

    public int VocabSize => _idToToken.Length;
    public int? BosId { get; }
    public int? EosId { get; }
    public int? PadId { get; }

    /// <summary>Ids of <paramref name="text"/>; <c>&lt;|endoftext|&gt;</c> in the text becomes its special id.</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (var (offset, length, special) in _specials.Split(text))
        {
            if (special is int id) ids.Add(id);
            else ids.AddRange(_bpe.EncodeToIds(text.AsSpan(offset, length)));
        }
        return ids;
    }

    /// <summary>Ids of <paramref name="text"/> with special-token strings encoded as ordinary text.</summary>
    public IReadOnlyList<int> EncodeOrdinary(string text) => text.Length == 0 ? [] : _bpe.EncodeToIds(text);

    public string Decode(IEnumerable<int> ids) =>
        ByteLevelDecoder.Decode(ids, id => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null, _specialIds);

    /// <summary>The vocabulary string of <paramref name="id"/> (byte-level form), or null.</summary>
    public string? TokenOf(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;
}
