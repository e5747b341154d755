using SharpSeek.Checkpoints;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using SharpSeek.Tokenization;

namespace SharpSeek.Data;

/// <summary>Makes the tokenizer that <c>data prepare --tokenizer SPEC</c> names and saves its files next to the token files.</summary>
public interface IDataTokenizerFactory
{
    /// <summary>The tokenizer for <paramref name="spec"/>; <paramref name="corpusCodePoints"/> are the corpus's distinct code points, ascending (for char level).</summary>
    ITextTokenizer Create(string spec, IReadOnlyList<int> corpusCodePoints);

    /// <summary>Writes the files that reopen <paramref name="tokenizer"/> into <paramref name="dir"/>; returns their names.</summary>
    IReadOnlyList<string> SaveFiles(ITextTokenizer tokenizer, string spec, string dir);
}

/// <summary>Options of <see cref="TokenDataPreparer.Prepare"/>.</summary>
public sealed record PrepareOptions
{
    public required string Input { get; init; }
    public required string OutDir { get; init; }
    public string Tokenizer { get; init; } = "char";
    /// <summary>Share of the corpus (by characters, taken from the end) that becomes val.bin, as nanoGPT's 90/10 split.</summary>
    public double ValFraction { get; init; } = 0.1;
    /// <summary>Force a token dtype; null picks uint16 when the vocabulary fits, else uint32.</summary>
    public TokenDType? DType { get; init; }
    /// <summary>Drop paragraphs (blank-line separated) that repeat an earlier one exactly.</summary>
    public bool Dedup { get; init; }
    /// <summary>Drop paragraphs with fewer non-space characters than this (0 keeps all).</summary>
    public int MinParagraphChars { get; init; }
    /// <summary>Drop paragraphs whose share of non-letter characters exceeds this (1 keeps all).</summary>
    public double MaxNonLetterRatio { get; init; } = 1.0;
    /// <summary>Characters tokenized at a time; the corpus is never held in memory whole.</summary>
    public int ChunkChars { get; init; } = 1 << 20;
}

/// <summary>What <see cref="TokenDataPreparer.Prepare"/> produced.</summary>
public sealed record PrepareReport(TokenDataMeta Meta, double Seconds)
{
    public long Tokens => Meta.TrainTokens + Meta.ValTokens;
    public double TokensPerChar => Meta.Characters == 0 ? 0 : (double)Tokens / Meta.Characters;

    public string Summary() =>
        $"characters {Meta.Characters:N0}, tokens {Tokens:N0} (train {Meta.TrainTokens:N0}, val {Meta.ValTokens:N0}), " +
        $"tokens/char {TokensPerChar:F4}, vocab {Meta.VocabSize:N0}, dtype {Meta.DType}, {Seconds:F1} s ({(Seconds > 0 ? Tokens / Seconds : 0):N0} tokens/s)";
}

/// <summary>
/// Tokenizes a text corpus into train.bin/val.bin (flat little-endian uint16/uint32 ids) + meta.json + tokenizer files, as nanoGPT's
/// <c>data/*/prepare.py</c> (Karpathy 2022): the first (1 − val_fraction) of the characters are train, the rest val. Two streaming passes
/// (count characters, then tokenize in newline-aligned chunks), so corpus size is bounded by disk, not memory.
/// </summary>
public static class TokenDataPreparer
{
    public static PrepareReport Prepare(PrepareOptions options, IDataTokenizerFactory factory)
    {
        var clock = Stopwatch.StartNew();
        if (!File.Exists(options.Input)) throw new DataException($"input corpus {options.Input} does not exist");
        if (!(options.ValFraction >= 0 && options.ValFraction < 1)) throw new DataException($"--val-fraction {options.ValFraction} must be in [0, 1)");
        if (options.ChunkChars < 16) throw new DataException($"chunk size {options.ChunkChars} is too small");
        if (options.MinParagraphChars < 0) throw new DataException($"minimum paragraph length {options.MinParagraphChars} must not be negative");
        if (!(options.MaxNonLetterRatio >= 0 && options.MaxNonLetterRatio <= 1)) throw new DataException($"maximum non-letter ratio {options.MaxNonLetterRatio} must be in [0, 1]");

        // Pass 1: characters and the code-point set (char-level vocabulary).
        long characters = 0;
        var present = new bool[0x110000];
        foreach (var piece in ReadPieces(options))
            foreach (var r in piece.EnumerateRunes()) { present[r.Value] = true; characters++; }
        bool cleaned = options.Dedup || options.MinParagraphChars > 0 || options.MaxNonLetterRatio < 1;
        if (characters == 0) throw new DataException($"corpus {options.Input} is empty" + (cleaned ? " after cleaning" : ""));
        long trainChars = (long)(characters * (1 - options.ValFraction));                  // nanoGPT: int(n * 0.9)
        if (options.ValFraction > 0 && (trainChars == 0 || trainChars == characters))
            throw new DataException($"corpus {options.Input} has {characters} characters, too few to split with --val-fraction {options.ValFraction}");

        var codePoints = Enumerable.Range(0, present.Length).Where(cp => present[cp]).ToArray();
        var tokenizer = factory.Create(options.Tokenizer, codePoints);
        int vocab = tokenizer.VocabSize;
        var dtype = options.DType ?? (vocab <= 65536 ? TokenDType.UInt16 : TokenDType.UInt32);
        if (dtype == TokenDType.UInt16 && vocab > 65536)
            throw new DataException($"vocabulary of {vocab:N0} tokens does not fit uint16 storage (at most 65,536); use uint32");

        TokenDataMeta meta = null!;
        AtomicFiles.WriteFolder(options.OutDir, tmp =>
        {
            long trainTokens, valTokens;
            using (var train = new TokenFileWriter(Path.Combine(tmp, TokenDataMeta.TrainFile), dtype, vocab))
            using (var val = new TokenFileWriter(Path.Combine(tmp, TokenDataMeta.ValFile), dtype, vocab))
            {
                var encode = tokenizer is CharTokenizer chars ? CharEncoder(chars) : tokenizer.Encode;
                var trainChunker = new Chunker(encode, train, options.ChunkChars);
                var valChunker = new Chunker(encode, val, options.ChunkChars);
                long pos = 0;
                foreach (var piece in ReadPieces(options))
                {
                    long n = CorpusWriter.CountCodePoints(piece);
                    if (pos >= trainChars) valChunker.Add(piece);
                    else if (pos + n <= trainChars) trainChunker.Add(piece);
                    else
                    {
                        int cut = CharIndexOfCodePoint(piece, trainChars - pos);
                        trainChunker.Add(piece[..cut]);
                        valChunker.Add(piece[cut..]);
                    }
                    pos += n;
                }
                trainChunker.Flush();
                valChunker.Flush();
                trainTokens = train.Count;
                valTokens = val.Count;
            }
            if (trainTokens == 0) throw new DataException($"corpus {options.Input} produced no training tokens");
            if (options.ValFraction > 0 && valTokens == 0) throw new DataException($"corpus {options.Input} produced no validation tokens; it is too small for --val-fraction {options.ValFraction}");
            var files = factory.SaveFiles(tokenizer, options.Tokenizer, tmp);
            meta = new TokenDataMeta
            {
                DType = TokenDataMeta.DTypeName(dtype), VocabSize = vocab, Tokenizer = options.Tokenizer, TokenizerFiles = files,
                EosId = tokenizer.EosId, Source = Path.GetFullPath(options.Input), Characters = characters, TrainCharacters = trainChars,
                TrainTokens = trainTokens, ValTokens = valTokens, ValFraction = options.ValFraction, Dedup = options.Dedup,
                MinParagraphChars = options.MinParagraphChars, MaxNonLetterRatio = options.MaxNonLetterRatio,
            };
            File.WriteAllText(Path.Combine(tmp, TokenDataMeta.FileName), meta.ToJson());
        }, lastFile: TokenDataMeta.FileName);
        return new PrepareReport(meta, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The corpus as pieces of about <see cref="PrepareOptions.ChunkChars"/> chars whose concatenation is the text (cleaned by
    /// paragraph when de-duplication or filters are on); a surrogate pair is never split across pieces.
    /// </summary>
    internal static IEnumerable<string> ReadPieces(PrepareOptions options)
    {
        string path = options.Input;
        int pieceChars = options.ChunkChars;
        using var reader = new StreamReader(path, AtomicFiles.StrictUtf8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        bool filter = options.MinParagraphChars > 0 || options.MaxNonLetterRatio < 1.0;
        if (options.Dedup || filter)
        {
            var seen = new ExactDeduplicator();
            var sb = new StringBuilder();
            foreach (var para in TextCleaning.SplitParagraphs(Lines(reader, path)))
            {
                if (options.Dedup && !seen.Add(para.TrimEnd())) continue;
                if (filter && !TextCleaning.Passes(para, options.MinParagraphChars, options.MaxNonLetterRatio)) continue;
                sb.Append(para);
                if (sb.Length >= pieceChars) { yield return sb.ToString(); sb.Clear(); }
            }
            if (sb.Length > 0) yield return sb.ToString();
            yield break;
        }
        var buffer = new char[pieceChars + 1];
        int carried = 0;
        while (true)
        {
            int n = Read(reader, buffer, carried, pieceChars - carried, path);
            int total = carried + n;
            if (total == 0) yield break;
            if (n > 0 && char.IsHighSurrogate(buffer[total - 1]))
            {
                if (total == 1) { carried = 1; continue; }
                yield return new string(buffer, 0, total - 1);
                buffer[0] = buffer[total - 1];
                carried = 1;
                continue;
            }
            yield return new string(buffer, 0, total);
            carried = 0;
            if (n == 0) yield break;
        }
    }

    private static int Read(StreamReader reader, char[] buffer, int offset, int count, string path)
    {
        try { return reader.ReadBlock(buffer, offset, count); }
        catch (DecoderFallbackException) { throw new DataException($"{path} is not valid UTF-8 text"); }
    }

    private static IEnumerable<string> Lines(StreamReader reader, string path)
    {
        while (true)
        {
            string? line;
            try { line = reader.ReadLine(); }
            catch (DecoderFallbackException) { throw new DataException($"{path} is not valid UTF-8 text"); }
            if (line is null) yield break;
            yield return line;
        }
    }

    /// <summary>Char-level encoding through a code point → id table (same ids as <see cref="CharTokenizer.Encode"/>, ~10× faster).</summary>
    private static Func<string, IReadOnlyList<int>> CharEncoder(CharTokenizer tokenizer)
    {
        var table = new Dictionary<int, int>();
        for (int i = 0; i < tokenizer.Chars.Count; i++) table[char.ConvertToUtf32(tokenizer.Chars[i], 0)] = i;
        int max = table.Keys.Max();
        var ids = new int[max + 1];
        Array.Fill(ids, -1);
        foreach (var (cp, id) in table) ids[cp] = id;
        return text =>
        {
            var result = new List<int>(text.Length);
            foreach (var r in text.EnumerateRunes())
            {
                int id = r.Value <= max ? ids[r.Value] : -1;
                if (id < 0) throw new DataException($"character U+{r.Value:X4} is not in the character vocabulary");
                result.Add(id);
            }
            return result;
        };
    }

    /// <summary>UTF-16 index of code point number <paramref name="codePoint"/> in <paramref name="s"/>.</summary>
    private static int CharIndexOfCodePoint(string s, long codePoint)
    {
        int i = 0;
        for (long seen = 0; i < s.Length && seen < codePoint; seen++)
            i += char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
        return i;
    }

    /// <summary>Buffers text and tokenizes it in pieces cut at a lone "\n" between non-space characters, where byte-level BPE pre-tokenization never joins across.</summary>
    private sealed class Chunker(Func<string, IReadOnlyList<int>> encode, TokenFileWriter sink, int chunkChars)
    {
        private readonly StringBuilder _buf = new();
        private int _searchedTo;   // no boundary before this index (from earlier searches)

        public void Add(string text)
        {
            _buf.Append(text);
            while (_buf.Length >= chunkChars)
            {
                int cut = FindBoundary();
                if (cut < 0)
                {
                    _searchedTo = Math.Max(0, _buf.Length - 2);
                    if (_buf.Length < 8 * chunkChars) return;                                 // wait for a boundary a little longer
                    cut = char.IsLowSurrogate(_buf[chunkChars]) ? chunkChars - 1 : chunkChars; // no line break at all: cut anyway
                }
                Emit(cut);
            }
        }

        public void Flush() { if (_buf.Length > 0) Emit(_buf.Length); }

        private int FindBoundary()
        {
            for (int p = _buf.Length - 1; p >= Math.Max(1, _searchedTo); p--)
                if (_buf[p - 1] == '\n' && !char.IsWhiteSpace(_buf[p]) && (p < 2 || !char.IsWhiteSpace(_buf[p - 2]))) return p;
            return -1;
        }

        private void Emit(int length)
        {
            string text = _buf.ToString(0, length);
            _buf.Remove(0, length);
            _searchedTo = 0;
            sink.Write(encode(text));
        }
    }
}

/// <summary>Appends token ids to a flat little-endian uint16/uint32 file, checking each id against the vocabulary and the dtype.</summary>
internal sealed class TokenFileWriter : IDisposable
{
    private readonly FileStream _stream;
    private readonly TokenDType _dtype;
    private readonly int _vocab;
    private readonly byte[] _buffer = new byte[1 << 16];
    private int _used;

    public long Count { get; private set; }

    public TokenFileWriter(string path, TokenDType dtype, int vocab)
    {
        _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        _dtype = dtype;
        _vocab = vocab;
    }

    public void Write(IReadOnlyList<int> ids)
    {
        int size = _dtype == TokenDType.UInt16 ? 2 : 4;
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_vocab) throw new DataException($"token id {id} is outside the vocabulary (size {_vocab})");
            if (_used + size > _buffer.Length) { _stream.Write(_buffer, 0, _used); _used = 0; }
            if (size == 2) BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_used), checked((ushort)id));
            else BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_used), (uint)id);
            _used += size;
            Count++;
        }
    }

    public void Dispose()
    {
        _stream.Write(_buffer, 0, _used);
        _used = 0;
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
    }
}
