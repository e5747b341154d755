using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace SharpSeek.Tokenization;

/// <summary>Byte-level BPE training settings. Defaults: 4,096 tokens, no special tokens, merges seen at least twice.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Final vocabulary size: 256 byte tokens + special tokens + merges.</summary>
    public int VocabSize { get; init; } = 4096;
    /// <summary>Special tokens, given ids 0..n-1 (Hugging Face trainer order); never learned from or split by the corpus.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = [];
    /// <summary>Stop early when the most frequent pair occurs fewer times than this.</summary>
    public int MinFrequency { get; init; } = 2;
    /// <summary>Names written to tokenizer_config.json (each must be one of <see cref="SpecialTokens"/>).</summary>
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }
    public string? PadToken { get; init; }

    /// <summary>Largest vocabulary the trainer builds (ids must fit comfortably in int32 token files and embedding tables).</summary>
    public const int MaxVocabSize = 1_000_000;

    /// <summary>Throws <see cref="TokenizerException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (SpecialTokens.Any(string.IsNullOrEmpty)) throw new TokenizerException("Special tokens must not be empty strings.");
        if (SpecialTokens.FirstOrDefault(s => s.Length == 1 && ByteLevel.ByteToChar.Contains(s[0])) is { } clash)
            throw new TokenizerException($"Special token '{clash}' is a single byte-level character and would clash with a byte token.");
        if (SpecialTokens.Distinct(StringComparer.Ordinal).Count() != SpecialTokens.Count) throw new TokenizerException("Special tokens must be distinct.");
        if (VocabSize > MaxVocabSize) throw new TokenizerException($"Vocabulary size {VocabSize} is larger than the allowed maximum of {MaxVocabSize}.");
        var min = 256 + SpecialTokens.Count;
        if (VocabSize < min)
            throw new TokenizerException($"Vocabulary size {VocabSize} is too small: it must be at least {min} (256 bytes + {SpecialTokens.Count} special tokens).");
        if (MinFrequency < 1) throw new TokenizerException($"Minimum pair frequency must be at least 1, got {MinFrequency}.");
        foreach (var (role, name) in new[] { ("bos", BosToken), ("eos", EosToken), ("pad", PadToken) })
            if (name is not null && !SpecialTokens.Contains(name))
                throw new TokenizerException($"The {role} token '{name}' is not one of the special tokens.");
    }
}

/// <summary>A trained byte-level BPE: vocabulary (byte-level strings → id) and merges in rank order.</summary>
public sealed record BpeTrainingResult(IReadOnlyDictionary<string, int> Vocab, IReadOnlyList<(string Left, string Right)> Merges,
    IReadOnlyList<string> SpecialTokens, BpeTrainerOptions Options)
{
    /// <summary>Writes tokenizer.json, vocab.json, merges.txt and tokenizer_config.json into <paramref name="dir"/>, each atomically.</summary>
    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        var byId = Vocab.OrderBy(v => v.Value).ToList();
        SharpSeek.Checkpoints.AtomicFiles.WriteText(Path.Combine(dir, "tokenizer.json"), Json(w =>
        {
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            foreach (var s in SpecialTokens)
            {
                w.WriteStartObject();
                w.WriteNumber("id", Vocab[s]);
                w.WriteString("content", s);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "ByteLevel"); w.WriteBoolean("add_prefix_space", false); w.WriteBoolean("trim_offsets", true); w.WriteBoolean("use_regex", true);
            w.WriteEndObject();
            w.WriteNull("post_processor");
            w.WriteStartObject("decoder");
            w.WriteString("type", "ByteLevel"); w.WriteBoolean("add_prefix_space", true); w.WriteBoolean("trim_offsets", true); w.WriteBoolean("use_regex", true);
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout"); w.WriteNull("unk_token"); w.WriteNull("continuing_subword_prefix"); w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", false); w.WriteBoolean("byte_fallback", false); w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            foreach (var (token, id) in byId) w.WriteNumber(token, id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var (l, r) in Merges) w.WriteStringValue($"{l} {r}");
            w.WriteEndArray();
            w.WriteEndObject();
        }));
        SharpSeek.Checkpoints.AtomicFiles.WriteText(Path.Combine(dir, "vocab.json"), Json(w => { foreach (var (token, id) in byId) w.WriteNumber(token, id); }));
        var merges = new StringBuilder("#version: 0.2\n");
        foreach (var (l, r) in Merges) merges.Append(l).Append(' ').Append(r).Append('\n');
        SharpSeek.Checkpoints.AtomicFiles.WriteText(Path.Combine(dir, "merges.txt"), merges.ToString());
        SharpSeek.Checkpoints.AtomicFiles.WriteText(Path.Combine(dir, "tokenizer_config.json"), Json(w =>
        {
            w.WriteString("tokenizer_class", "GPT2TokenizerFast");
            w.WriteBoolean("add_bos_token", false);
            foreach (var (key, name) in new[] { ("bos_token", Options.BosToken), ("eos_token", Options.EosToken), ("pad_token", Options.PadToken) })
                if (name is null) w.WriteNull(key); else w.WriteString(key, name);
        }));
    }

    private static string Json(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}

/// <summary>
/// Byte-level BPE trainer (Sennrich et al. 2016; GPT-2 byte-level variant, Radford et al. 2019), as Hugging Face's
/// BpeTrainer: GPT-2 pre-tokenization, word counts, then repeatedly merge the most frequent adjacent pair. Pair counts
/// are updated incrementally (pair → words index, lazy max-heap), never recounted per merge.
/// </summary>
public sealed class BpeTrainer
{
    private readonly BpeTrainerOptions _options;
    private readonly PreTokenizerPipeline _preTokenizer = PreTokenizerPipeline.Gpt2();
    private readonly SpecialTokenSplitter _specials;
    private readonly Dictionary<string, long> _wordCounts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> _wordLookup;

    public BpeTrainer(BpeTrainerOptions options)
    {
        options.Validate();
        _options = options;
        _specials = new SpecialTokenSplitter(options.SpecialTokens.Select((s, i) => KeyValuePair.Create(s, i)).ToDictionary());
        _wordLookup = _wordCounts.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Trains on <paramref name="files"/>, read in chunks (streamed). Throws <see cref="TokenizerException"/> for a missing file or an empty corpus.</summary>
    public static BpeTrainingResult TrainOnFiles(IEnumerable<string> files, BpeTrainerOptions options)
    {
        var list = files.ToList();
        if (list.Count == 0) throw new TokenizerException("No input files were given.");
        foreach (var f in list) if (!File.Exists(f)) throw new TokenizerException($"Input file {f} does not exist.");
        var trainer = new BpeTrainer(options);
        foreach (var f in list) trainer.AddFile(f);
        return trainer.Train();
    }

    /// <summary>Number of distinct pre-tokenized words seen so far.</summary>
    public int DistinctWords => _wordCounts.Count;

    /// <summary>Counts the words of one text (special tokens in it are skipped, never learned from).</summary>
    public void AddText(string text)
    {
        foreach (var (offset, length, special) in _specials.Split(text))
        {
            if (special is not null) continue;
            foreach (var (o, l) in _preTokenizer.Split(text, offset, length))
            {
                ref var count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_wordLookup, text.AsSpan(o, l), out _);
                count++;
            }
        }
    }

    /// <summary>Counts the words of a UTF-8 file, read in chunks of <paramref name="chunkChars"/> characters cut only where GPT-2 pre-tokenization would split anyway.</summary>
    public void AddFile(string path, int chunkChars = 1 << 20)
    {
        if (!File.Exists(path)) throw new TokenizerException($"Input file {path} does not exist.");
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        var buffer = new char[chunkChars];
        var carry = new StringBuilder();
        int read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            carry.Append(buffer, 0, read);
            var text = carry.ToString();
            var cut = SafeCut(text);
            if (cut <= 0) continue;
            AddText(text[..cut]);
            carry.Clear().Append(text, cut, text.Length - cut);
        }
        if (carry.Length > 0) AddText(carry.ToString());
    }

    // Last position after a lone '\n' (non-space before and after): GPT-2 pre-tokenization makes that '\n' its own piece
    // whether or not the text is cut there, so no piece crosses the cut.
    private static int SafeCut(string text)
    {
        for (var i = text.Length - 1; i > 1; i--)
            if (text[i - 1] == '\n' && !char.IsWhiteSpace(text[i]) && !char.IsWhiteSpace(text[i - 2])) return i;
        return -1;
    }

    /// <summary>Learns merges until the vocabulary reaches <see cref="BpeTrainerOptions.VocabSize"/> or no pair is frequent enough.</summary>
    public BpeTrainingResult Train()
    {
        if (_wordCounts.Count == 0) throw new TokenizerException("The training corpus is empty.");
        var specials = _options.SpecialTokens;
        var tokens = new List<string>(_options.VocabSize);
        tokens.AddRange(specials);
        var byteBase = tokens.Count;
        for (var b = 0; b < 256; b++) tokens.Add(ByteLevel.ByteToChar[b].ToString());

        // Words as symbol arrays.
        var words = new int[_wordCounts.Count][];
        var lengths = new int[words.Length];
        var freqs = new long[words.Length];
        var wi = 0;
        foreach (var (word, count) in _wordCounts)
        {
            var bytes = Encoding.UTF8.GetBytes(word);
            var symbols = new int[bytes.Length];
            for (var i = 0; i < bytes.Length; i++) symbols[i] = byteBase + bytes[i];
            words[wi] = symbols;
            lengths[wi] = symbols.Length;
            freqs[wi] = count;
            wi++;
        }

        var pairCounts = new Dictionary<long, long>();
        var where = new Dictionary<long, List<int>>();
        for (var w = 0; w < words.Length; w++)
            for (var i = 0; i + 1 < lengths[w]; i++)
            {
                var key = Key(words[w][i], words[w][i + 1]);
                System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(pairCounts, key, out _) += freqs[w];
                AddWhere(where, key, w);
            }

        // Max-heap on count; ties broken by the smaller pair key, so training is deterministic.
        var heap = new PriorityQueue<long, (long Count, long Key)>(Comparer<(long Count, long Key)>.Create(
            (x, y) => x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.Key.CompareTo(y.Key)));
        foreach (var (key, count) in pairCounts) heap.Enqueue(key, (count, key));

        var tokenIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var id = 0; id < tokens.Count; id++) tokenIds[tokens[id]] = id;
        var merges = new List<(string, string)>();
        var touched = new HashSet<long>();
        var scratch = new List<int>();
        while (tokens.Count < _options.VocabSize && heap.TryDequeue(out var pair, out var priority))
        {
            var current = pairCounts.GetValueOrDefault(pair);
            if (current != priority.Count)
            {
                if (current > 0) heap.Enqueue(pair, (current, pair));   // stale entry: requeue with the true count
                continue;
            }
            if (current < _options.MinFrequency) break;
            int a = (int)(pair >> 32), b = (int)(pair & 0xFFFFFFFF);
            // Two merge paths can spell the same string ("ab c", "a bc"): reuse its id, as Hugging Face's trainer does.
            var text = tokens[a] + tokens[b];
            if (!tokenIds.TryGetValue(text, out var merged))
            {
                merged = tokens.Count;
                tokens.Add(text);
                tokenIds[text] = merged;
            }
            merges.Add((tokens[a], tokens[b]));
            touched.Clear();

            foreach (var w in where[pair])
            {
                var sym = words[w];
                var n = lengths[w];
                var found = false;
                for (var i = 0; i + 1 < n; i++) if (sym[i] == a && sym[i + 1] == b) { found = true; break; }
                if (!found) continue;
                var f = freqs[w];
                for (var i = 0; i + 1 < n; i++) pairCounts[Key(sym[i], sym[i + 1])] -= f;
                scratch.Clear();
                for (var i = 0; i < n; i++)
                {
                    if (i + 1 < n && sym[i] == a && sym[i + 1] == b) { scratch.Add(merged); i++; }
                    else scratch.Add(sym[i]);
                }
                scratch.CopyTo(sym);
                n = lengths[w] = scratch.Count;
                for (var i = 0; i + 1 < n; i++)
                {
                    var key = Key(sym[i], sym[i + 1]);
                    System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(pairCounts, key, out _) += f;
                    if (sym[i] == merged || sym[i + 1] == merged) { touched.Add(key); AddWhere(where, key, w); }
                }
            }
            pairCounts.Remove(pair);
            where.Remove(pair);
            foreach (var key in touched)
                if (pairCounts.TryGetValue(key, out var c) && c > 0) heap.Enqueue(key, (c, key));
        }

        return new BpeTrainingResult(tokenIds, merges, specials.ToList(), _options);
    }

    private static void AddWhere(Dictionary<long, List<int>> where, long key, int w)
    {
        ref var list = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(where, key, out _);
        list ??= [];
        if (list.Count == 0 || list[^1] != w) list.Add(w);
    }

    private static long Key(int a, int b) => ((long)a << 32) | (uint)b;
}
