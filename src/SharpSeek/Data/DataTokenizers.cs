using SharpSeek.Tokenization;

namespace SharpSeek.Data;

/// <summary>
/// The tokenizers <c>data prepare --tokenizer</c> knows: <c>char</c> (the corpus's sorted code points, nanoGPT shakespeare_char),
/// <c>gpt2</c> (GPT-2 byte-level BPE via <see cref="Gpt2Files"/>, encoded without special tokens like tiktoken's <c>encode_ordinary</c>),
/// or a folder that <see cref="TokenizerLoader"/> opens. Its files are copied next to the token files, so
/// <c>TokenizerLoader.Load(dataDir)</c> reopens the same tokenizer.
/// </summary>
public sealed class DataTokenizers(string cacheDir) : IDataTokenizerFactory
{
    /// <summary>Files a tokenizer folder may hold, copied as they are.</summary>
    public static readonly string[] TokenizerFileNames =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "encoder.json", "vocab.bpe", CharTokenizer.FileName];

    public DataTokenizers() : this(CorpusFetcher.DefaultCacheDir) { }

    public ITextTokenizer Create(string spec, IReadOnlyList<int> corpusCodePoints) => spec switch
    {
        "char" => new CharTokenizer(corpusCodePoints.Select(char.ConvertFromUtf32)),
        "gpt2" => new OrdinaryGpt2(Gpt2Tokenizer.FromFolder(Gpt2Dir())),
        _ when Directory.Exists(spec) => TokenizerLoader.Load(spec),
        _ => throw new DataException($"tokenizer '{spec}' is neither char, gpt2 nor an existing tokenizer folder"),
    };

    public IReadOnlyList<string> SaveFiles(ITextTokenizer tokenizer, string spec, string dir)
    {
        if (tokenizer is CharTokenizer chars)
        {
            chars.Save(Path.Combine(dir, CharTokenizer.FileName));
            return [CharTokenizer.FileName];
        }
        string source = spec == "gpt2" ? Gpt2Dir() : spec;
        var copied = new List<string>();
        foreach (var name in TokenizerFileNames)
        {
            string from = Path.Combine(source, name);
            if (!File.Exists(from)) continue;
            File.Copy(from, Path.Combine(dir, name), overwrite: true);
            copied.Add(name);
        }
        return copied;
    }

    private string Gpt2Dir() => Gpt2Files.Fetch(Path.Combine(cacheDir, "gpt2"));

    /// <summary>GPT-2 encoding that treats "&lt;|endoftext|&gt;" in a corpus as plain text (nanoGPT's <c>encode_ordinary</c>).</summary>
    private sealed class OrdinaryGpt2(Gpt2Tokenizer inner) : ITextTokenizer
    {
        public int VocabSize => inner.VocabSize;
        public IReadOnlyList<int> Encode(string text) => inner.EncodeOrdinary(text);
        public string Decode(IEnumerable<int> ids) => inner.Decode(ids);
        public int? BosId => inner.BosId;
        public int? EosId => inner.EosId;
        public int? PadId => inner.PadId;
    }
}
