using SharpSeek.Data;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Data;

public class DataCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = SharpSeek.Cli.Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static IEnumerable<int> AllTokens(TokenDataset ds)
    {
        for (long i = 0; i < ds.Train.Length; i++) yield return (int)ds.Train[i];
        for (long i = 0; i < ds.Val.Length; i++) yield return (int)ds.Val[i];
    }

    [Fact]
    public void Prepare_CharTokenizer_SavesVocabularyThatDecodesTokensBackToText()
    {
        using var dir = new TempDir();
        string text = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n";
        string input = dir.File("input.txt", text);
        string outDir = Path.Combine(dir.Path, "data");
        var (code, stdout, _) = Run("data", "prepare", "--input", input, "--tokenizer", "char", "--out", outDir);
        Assert.Equal(0, code);
        Assert.Contains("tokens/char 1.0000", stdout);
        using var ds = TokenDataset.Open(outDir);
        Assert.Equal(text, TokenizerLoader.Load(outDir).Decode(AllTokens(ds)));
    }

    [Fact]
    public void Prepare_Gpt2FolderTokenizer_CopiesFilesAndRoundTrips()
    {
        using var dir = new TempDir();
        string text = string.Concat(Enumerable.Repeat("Hello world, this is SharpSeek.\nIt tokenizes text in chunks.\n", 20));
        string input = dir.File("input.txt", text);
        string outDir = Path.Combine(dir.Path, "data");
        var report = TokenDataPreparer.Prepare(new PrepareOptions { Input = input, OutDir = outDir, Tokenizer = Path.Combine(Fixtures.Root, "tokenizer", "gpt2_bpe"), ChunkChars = 100 },
            new DataTokenizers(Path.Combine(dir.Path, "cache")));
        Assert.Equal(50257, report.Meta.VocabSize);
        Assert.Equal("uint16", report.Meta.DType);
        Assert.Contains("vocab.json", report.Meta.TokenizerFiles);
        using var ds = TokenDataset.Open(outDir);
        var tok = TokenizerLoader.Load(outDir);
        Assert.Equal(tok.Encode(text), AllTokens(ds).ToList());       // chunked encoding equals whole-text encoding
    }

    [Fact]
    public void Prepare_EmptyCorpus_ExitsWithCode2AndWritesNothing()
    {
        using var dir = new TempDir();
        string input = dir.File("empty.txt", "");
        string outDir = Path.Combine(dir.Path, "data");
        var (code, _, stderr) = Run("data", "prepare", "--input", input, "--out", outDir);
        Assert.Equal(2, code);
        Assert.Contains("empty", stderr);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Prepare_ForcedUInt16TooSmall_ExitsWithCode2()
    {
        using var dir = new TempDir();
        string input = dir.File("input.txt", "abcdefghijklmnop");
        var (code, _, stderr) = Run("data", "prepare", "--input", input, "--out", Path.Combine(dir.Path, "data"), "--dtype", "uint8");
        Assert.Equal(2, code);
        Assert.Contains("uint8", stderr);
    }

    [Fact]
    public void Prepare_UnknownTokenizer_ExitsWithCode2()
    {
        using var dir = new TempDir();
        string input = dir.File("input.txt", "abcdefghijklmnop");
        var (code, _, stderr) = Run("data", "prepare", "--input", input, "--out", Path.Combine(dir.Path, "data"), "--tokenizer", "no-such-tokenizer");
        Assert.Equal(2, code);
        Assert.Contains("no-such-tokenizer", stderr);
    }

    [Fact]
    public void Fetch_LocalFileThenPrepare_EndToEnd()
    {
        using var dir = new TempDir();
        string src = dir.File("notes.txt", string.Concat(Enumerable.Repeat("to be or not to be\n", 30)));
        var (code, stdout, _) = Run("data", "fetch", src, "--out", Path.Combine(dir.Path, "corpora"), "--cache", Path.Combine(dir.Path, "cache"));
        Assert.Equal(0, code);
        Assert.Contains("570 characters", stdout);
        (code, _, _) = Run("data", "prepare", "--input", Path.Combine(dir.Path, "corpora", "notes.txt"), "--out", Path.Combine(dir.Path, "data"));
        Assert.Equal(0, code);
        using var ds = TokenDataset.Open(Path.Combine(dir.Path, "data"));
        Assert.Equal(513, ds.Train.Length);                                 // int(570 * 0.9)
    }
}
