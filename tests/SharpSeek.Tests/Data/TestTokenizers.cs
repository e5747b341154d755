using System.Text;
using SharpSeek.Data;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Data;

/// <summary>Test-only char-level tokenizer: ids = rank of the code point in the corpus's sorted code-point set.</summary>
internal sealed class TestCharTokenizer(IReadOnlyList<int> codePoints) : ITextTokenizer
{
    private readonly Dictionary<int, int> _ids = codePoints.Select((cp, i) => (cp, i)).ToDictionary(p => p.cp, p => p.i);
    public IReadOnlyList<int> CodePoints => codePoints;
    public int VocabSize => codePoints.Count;
    public IReadOnlyList<int> Encode(string text) => text.EnumerateRunes().Select(r => _ids[r.Value]).ToList();
    public string Decode(IEnumerable<int> ids) => string.Concat(ids.Select(i => char.ConvertFromUtf32(codePoints[i])));
    public int? BosId => null;
    public int? EosId => null;
    public int? PadId => null;
}

/// <summary>Test-only context-sensitive tokenizer: one id per maximal run of letters (hash of the word), spaces and newlines their own ids — cutting a word in two changes the output.</summary>
internal sealed class TestWordTokenizer : ITextTokenizer
{
    public int VocabSize => 1000;
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        var word = new StringBuilder();
        void FlushWord() { if (word.Length > 0) { ids.Add(2 + (int)(ExactDeduplicator.Hash(word.ToString()) % 998)); word.Clear(); } }
        foreach (char c in text)
        {
            if (c == ' ') { FlushWord(); ids.Add(0); }
            else if (c == '\n') { FlushWord(); ids.Add(1); }
            else word.Append(c);
        }
        FlushWord();
        return ids;
    }
    public string Decode(IEnumerable<int> ids) => throw new NotSupportedException();
    public int? BosId => null;
    public int? EosId => 1;
    public int? PadId => null;
}

/// <summary>Test-only tokenizer with a vocabulary above uint16 range that emits one large id per character.</summary>
internal sealed class TestWideTokenizer : ITextTokenizer
{
    public int VocabSize => 70_000;
    public IReadOnlyList<int> Encode(string text) => text.Select(c => 65_536 + c % 1000).ToList();
    public string Decode(IEnumerable<int> ids) => throw new NotSupportedException();
    public int? BosId => null;
    public int? EosId => null;
    public int? PadId => null;
}

/// <summary>Test factory: "char", "word" or "wide"; saves a small marker file.</summary>
internal sealed class TestTokenizerFactory : IDataTokenizerFactory
{
    public ITextTokenizer Create(string spec, IReadOnlyList<int> corpusCodePoints) => spec switch
    {
        "char" => new TestCharTokenizer(corpusCodePoints),
        "word" => new TestWordTokenizer(),
        "wide" => new TestWideTokenizer(),
        _ => throw new DataException($"unknown test tokenizer {spec}"),
    };

    public IReadOnlyList<string> SaveFiles(ITextTokenizer tokenizer, string spec, string dir)
    {
        File.WriteAllText(Path.Combine(dir, "test_tokenizer.txt"), spec);
        return ["test_tokenizer.txt"];
    }
}
