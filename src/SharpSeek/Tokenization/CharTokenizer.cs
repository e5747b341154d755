using System.Text;
using System.Text.Json;

namespace SharpSeek.Tokenization;

/// <summary>
/// Character-level vocabulary: the sorted unique code points of a corpus, id = rank (nanoGPT's shakespeare_char
/// <c>prepare.py</c>, Karpathy 2022). Saved as <c>char_vocab.json</c>: <c>{"kind": "char", "chars": [...]}</c>.
/// </summary>
public sealed class CharTokenizer : ITextTokenizer
{
    public const string FileName = "char_vocab.json";

    private readonly string[] _chars;
    private readonly Dictionary<string, int> _ids;

    /// <summary>A tokenizer over <paramref name="chars"/>, each a single code point, in id order.</summary>
    public CharTokenizer(IEnumerable<string> chars)
    {
        _chars = chars.ToArray();
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < _chars.Length; i++)
        {
            var c = _chars[i];
            if (c.EnumerateRunes().Count() != 1 || Rune.DecodeFromUtf16(c, out _, out var used) != System.Buffers.OperationStatus.Done || used != c.Length)
                throw new TokenizerException($"Character vocabulary entry {i} ('{c}') is not exactly one Unicode character.");
            if (!_ids.TryAdd(c, i)) throw new TokenizerException($"Character vocabulary lists '{c}' twice.");
        }
        if (_chars.Length == 0) throw new TokenizerException("Character vocabulary is empty.");
    }

    /// <summary>Vocabulary = sorted (by code point) unique characters of <paramref name="corpus"/>.</summary>
    public static CharTokenizer FromCorpus(string corpus) => FromCorpus([corpus]);

    /// <summary>Vocabulary = sorted (by code point) unique characters of all <paramref name="chunks"/> (stream large files in chunks).</summary>
    public static CharTokenizer FromCorpus(IEnumerable<string> chunks)
    {
        var set = new SortedSet<int>();
        foreach (var chunk in chunks)
            foreach (var r in chunk.EnumerateRunes()) set.Add(r.Value);
        if (set.Count == 0) throw new TokenizerException("Cannot build a character vocabulary from an empty corpus.");
        return new CharTokenizer(set.Select(cp => char.ConvertFromUtf32(cp)));
    }

    public int VocabSize => _chars.Length;
    public int? BosId => null;
    public int? EosId => null;
    public int? PadId => null;
    public IReadOnlyList<string> Chars => _chars;

    /// <summary>One id per code point; throws <see cref="TokenizerException"/> on a character outside the vocabulary.</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>(text.Length);
        foreach (var r in text.EnumerateRunes())
        {
            var s = r.ToString();
            if (!_ids.TryGetValue(s, out var id))
                throw new TokenizerException($"Character U+{r.Value:X4} ('{s}') is not in the character vocabulary.");
            ids.Add(id);
        }
        return ids;
    }

    public string Decode(IEnumerable<int> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            if (id < 0 || id >= _chars.Length) throw new TokenizerException($"Token id {id} is outside the character vocabulary (size {_chars.Length}).");
            sb.Append(_chars[id]);
        }
        return sb.ToString();
    }

    /// <summary>Writes <c>{"kind": "char", "chars": [...]}</c> atomically (temp file + rename).</summary>
    public void Save(string path)
    {
        var json = JsonSerializer.Serialize(new CharVocabFile("char", _chars), new JsonSerializerOptions { WriteIndented = false });
        SharpSeek.Checkpoints.AtomicFiles.WriteText(path, json);
    }

    public static CharTokenizer Load(string path)
    {
        using var doc = TokenizerFiles.ParseJson(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("kind", out var kind) || kind.GetString() != "char"
            || !root.TryGetProperty("chars", out var chars) || chars.ValueKind != JsonValueKind.Array
            || chars.EnumerateArray().Any(c => c.ValueKind != JsonValueKind.String))
            throw new TokenizerException($"{path} is not a character vocabulary ({{\"kind\": \"char\", \"chars\": [strings]}}).");
        return new CharTokenizer(chars.EnumerateArray().Select(c => c.GetString()!));
    }

    private sealed record CharVocabFile(
        [property: System.Text.Json.Serialization.JsonPropertyName("kind")] string Kind,
        [property: System.Text.Json.Serialization.JsonPropertyName("chars")] string[] Chars);
}
