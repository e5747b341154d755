using SharpSeek.Cli;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Tokenization;

public sealed class TokenizerCliTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = Program.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Tokenize_Gpt2FolderWithIds_PrintsFixtureIds()
    {
        var (code, output, _) = Run("tokenize", "--tokenizer", TokenizerCases.FirstCaseDir(), "--text", "Hello world", "--ids");
        Assert.Equal(0, code);
        Assert.Equal("15496 995", output.Trim());
    }

    [Fact]
    public void Tokenize_File_PrintsIdAndTokenStringPerLine()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["in.txt"], "Hello world");
        var (code, output, _) = Run("tokenize", "--tokenizer", TokenizerCases.FirstCaseDir(), "--file", tmp["in.txt"]);
        Assert.Equal(0, code);
        Assert.Equal(["15496\t\"Hello\"", "995\t\" world\"", "2 tokens"], output.Trim().Split('\n'));
    }

    [Fact]
    public void Tokenize_MalformedTokenizerJson_ExitCode2WithOneLine()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["tokenizer.json"], "{ not json");
        var (code, _, err) = Run("tokenize", "--tokenizer", tmp.Path, "--text", "x");
        Assert.Equal(CliRunner.UserErrorExitCode, code);
        Assert.Contains("not valid JSON", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void Tokenize_NeitherTextNorFile_ExitCode2()
    {
        var (code, _, err) = Run("tokenize", "--tokenizer", TokenizerCases.FirstCaseDir());
        Assert.Equal(CliRunner.UserErrorExitCode, code);
        Assert.Contains("--text or --file", err);
    }

    [Fact]
    public void TokenizerTrain_SmallCorpus_WritesLoadableTokenizer()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["a.txt"], string.Concat(Enumerable.Repeat("the cat sat on the mat. 猫坐在垫子上。\n", 200)));
        var (code, output, err) = Run("tokenizer", "train", "--input", tmp["a.txt"], "--vocab-size", "270", "--special-token", "<|endoftext|>", "--out", tmp["tok"]);
        Assert.True(code == 0, err);
        Assert.Contains("270 tokens", output);
        var tok = TokenizerLoader.Load(tmp["tok"]);
        Assert.Equal(270, tok.VocabSize);
        Assert.Equal(0, tok.EosId);
        Assert.Equal("the mat 垫子", tok.Decode(tok.Encode("the mat 垫子")));
    }

    [Fact]
    public void TokenizerTrain_VocabSizeBelowBytesPlusSpecials_ExitCode2AndWritesNothing()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["a.txt"], "text");
        var (code, _, err) = Run("tokenizer", "train", "--input", tmp["a.txt"], "--vocab-size", "256", "--special-token", "<s>", "--out", tmp["tok"]);
        Assert.Equal(CliRunner.UserErrorExitCode, code);
        Assert.Contains("at least 257", err);
        Assert.False(Directory.Exists(tmp["tok"]));
    }

    [Fact]
    public void TokenizerTrain_MissingInputFile_ExitCode2AndWritesNothing()
    {
        using var tmp = new TempDir();
        var (code, _, err) = Run("tokenizer", "train", "--input", tmp["missing.txt"], "--out", tmp["tok"]);
        Assert.Equal(CliRunner.UserErrorExitCode, code);
        Assert.Contains("does not exist", err);
        Assert.False(Directory.Exists(tmp["tok"]));
    }
}
