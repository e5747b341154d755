using System.Buffers.Binary;
using SharpSeek.Data;

namespace SharpSeek.Tests.Data;

public class TokenDataPreparerTests
{
    private static PrepareReport Prepare(TempDir dir, string text, string tokenizer = "char", double valFraction = 0.1, int chunkChars = 1 << 20, TokenDType? dtype = null, bool dedup = false)
    {
        string input = dir.File("corpus.txt", text);
        return TokenDataPreparer.Prepare(new PrepareOptions
        {
            Input = input, OutDir = Path.Combine(dir.Path, "out"), Tokenizer = tokenizer, ValFraction = valFraction,
            ChunkChars = chunkChars, DType = dtype, Dedup = dedup,
        }, new TestTokenizerFactory());
    }

    private static ushort[] ReadUInt16(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return Enumerable.Range(0, bytes.Length / 2).Select(i => BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i))).ToArray();
    }

    [Fact]
    public void Prepare_CharCorpus_FirstNinetyPercentOfCharactersIsTrain()
    {
        using var dir = new TempDir();
        string text = string.Concat(Enumerable.Range(0, 100).Select(i => (char)('a' + i % 7)));
        var report = Prepare(dir, text);
        Assert.Equal(90, report.Meta.TrainTokens);
        Assert.Equal(10, report.Meta.ValTokens);
        var tok = new TestCharTokenizer(text.Select(c => (int)c).Distinct().Order().ToArray());
        Assert.Equal(text[..90], tok.Decode(ReadUInt16(Path.Combine(dir.Path, "out", "train.bin")).Select(i => (int)i)));
        Assert.Equal(text[90..], tok.Decode(ReadUInt16(Path.Combine(dir.Path, "out", "val.bin")).Select(i => (int)i)));
    }

    [Fact]
    public void Prepare_Meta_RecordsDtypeVocabCountsAndTokenizerFiles()
    {
        using var dir = new TempDir();
        var report = Prepare(dir, "hello world\n");
        var meta = TokenDataMeta.Load(Path.Combine(dir.Path, "out"));
        Assert.Equal("uint16", meta.DType);
        Assert.Equal(9, meta.VocabSize);                           // "\n dehlorw"
        Assert.Equal(12, meta.Characters);
        Assert.Equal(report.Meta.TrainTokens, meta.TrainTokens);
        Assert.Equal(["test_tokenizer.txt"], meta.TokenizerFiles);
        Assert.True(File.Exists(Path.Combine(dir.Path, "out", "test_tokenizer.txt")));
    }

    [Fact]
    public void Prepare_TinyChunks_GiveSameTokensAsOneChunk()
    {
        using var a = new TempDir();
        using var b = new TempDir();
        string text = string.Concat(Enumerable.Range(0, 300).Select(i => $"word{i % 17} other{i % 5}\nline{i % 3} x\n\n"));
        Prepare(a, text, "word", chunkChars: 1 << 20);
        Prepare(b, text, "word", chunkChars: 37);
        Assert.Equal(File.ReadAllBytes(Path.Combine(a.Path, "out", "train.bin")), File.ReadAllBytes(Path.Combine(b.Path, "out", "train.bin")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(a.Path, "out", "val.bin")), File.ReadAllBytes(Path.Combine(b.Path, "out", "val.bin")));
    }

    [Fact]
    public void Prepare_SurrogatePairsAcrossTinyChunks_CountOneCharacterEach()
    {
        using var dir = new TempDir();
        string text = string.Concat(Enumerable.Repeat("詩😀𠀋a\n", 40));     // 5 code points, 7 UTF-16 units per repeat
        var report = Prepare(dir, text, chunkChars: 16);
        Assert.Equal(200, report.Meta.Characters);
        Assert.Equal(200, report.Tokens);
        Assert.Equal(5, report.Meta.VocabSize);
    }

    [Fact]
    public void Prepare_VocabAbove65536_StoresUInt32()
    {
        using var dir = new TempDir();
        var report = Prepare(dir, "abcdefghij");
        Assert.Equal("uint16", report.Meta.DType);
        using var wide = new TempDir();
        var r2 = Prepare(wide, "abcdefghij", "wide");
        Assert.Equal("uint32", r2.Meta.DType);
        Assert.Equal(4 * 9, new FileInfo(Path.Combine(wide.Path, "out", "train.bin")).Length);
    }

    [Fact]
    public void Prepare_UInt16ForcedWithLargeVocab_ThrowsDataExceptionAndWritesNothing()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DataException>(() => Prepare(dir, "abcdefghij", "wide", dtype: TokenDType.UInt16));
        Assert.Contains("70,000", e.Message);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "out")));
    }

    [Fact]
    public void Prepare_EmptyCorpus_ThrowsDataExceptionAndWritesNothing()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DataException>(() => Prepare(dir, ""));
        Assert.Contains("empty", e.Message);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "out")));
    }

    [Fact]
    public void Prepare_TooFewCharactersToSplit_ThrowsDataException()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DataException>(() => Prepare(dir, "a"));            // int(1 * 0.9) = 0 train characters
        Assert.Contains("1 characters", e.Message);
    }

    [Fact]
    public void Prepare_MissingInput_ThrowsDataException()
    {
        using var dir = new TempDir();
        Assert.Throws<DataException>(() => TokenDataPreparer.Prepare(new PrepareOptions { Input = Path.Combine(dir.Path, "none.txt"), OutDir = dir.Path }, new TestTokenizerFactory()));
    }

    [Fact]
    public void Prepare_Dedup_DropsRepeatedParagraphs()
    {
        using var dir = new TempDir();
        var report = Prepare(dir, "ab\ncd\n\nxy\n\nab\ncd\n\nzz\n", dedup: true, valFraction: 0);
        Assert.Equal("ab\ncd\n\nxy\n\nzz\n".Length, report.Meta.Characters);
        Assert.True(report.Meta.Dedup);
    }

    [Fact]
    public void Prepare_ParagraphFilters_DropShortAndSymbolHeavyParagraphs()
    {
        using var dir = new TempDir();
        string input = dir.File("corpus.txt", "a real paragraph\n\n12345 !!! 678\n\nhi\n\nanother real one\n");
        var report = TokenDataPreparer.Prepare(new PrepareOptions
        {
            Input = input, OutDir = Path.Combine(dir.Path, "out"), ValFraction = 0, MinParagraphChars = 5, MaxNonLetterRatio = 0.5,
        }, new TestTokenizerFactory());
        Assert.Equal("a real paragraph\n\nanother real one\n".Length, report.Meta.Characters);
        Assert.Equal(5, TokenDataMeta.Load(Path.Combine(dir.Path, "out")).MinParagraphChars);
    }

    [Fact]
    public void Prepare_EverythingFilteredOut_ThrowsEmptyAfterCleaning()
    {
        using var dir = new TempDir();
        string input = dir.File("corpus.txt", "!!!\n\n???\n");
        var e = Assert.Throws<DataException>(() => TokenDataPreparer.Prepare(new PrepareOptions
        {
            Input = input, OutDir = Path.Combine(dir.Path, "out"), MaxNonLetterRatio = 0.5,
        }, new TestTokenizerFactory()));
        Assert.Contains("empty after cleaning", e.Message);
    }

    [Fact]
    public void Prepare_IntoExistingFolder_ReplacesTokenFiles()
    {
        using var dir = new TempDir();
        Prepare(dir, string.Concat(Enumerable.Repeat("abcdefghij", 10)));
        var second = Prepare(dir, string.Concat(Enumerable.Repeat("abcdefghij", 20)));
        using var ds = TokenDataset.Open(Path.Combine(dir.Path, "out"));
        Assert.Equal(180, ds.Train.Length);
        Assert.Equal(second.Meta.TrainTokens, ds.Train.Length);
        Assert.DoesNotContain(Directory.GetDirectories(dir.Path), d => Path.GetFileName(d).StartsWith('.'));
    }
}
