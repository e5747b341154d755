using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Cli;

public class GenerateCliTests
{
    private static string GptVocabDir => Path.Combine(Fixtures.Root, "tokenizer", "gpt2_bpe");

    private static string NewModel(TempDir dir, params string[] extra)
    {
        string m = dir["m"];
        var args = new List<string> { "init", "--preset", "tiny", "--set", "n_positions=32", "--out", m, "--tokenizer", GptVocabDir };
        args.AddRange(extra);
        var r = CliHarness.Run(args.ToArray());
        Assert.True(r.ExitCode == 0, r.Stderr);
        return m;
    }

    [Fact]
    public void Generate_Greedy_PrintsPromptAndContinuation()
    {
        using var dir = new TempDir();
        string m = NewModel(dir);
        var r = CliHarness.Run("generate", "--model", m, "--prompt", "Hello world", "--max-new-tokens", "5");
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Hello world", r.Stdout);
        Assert.True(r.Stdout.Trim().Length > "Hello world".Length);
    }

    [Fact]
    public void Generate_SameSeed_SameText()
    {
        using var dir = new TempDir();
        string m = NewModel(dir);
        string[] args = ["generate", "--model", m, "--prompt", "Once", "--max-new-tokens", "8", "--temperature", "1.0", "--seed", "42"];
        Assert.Equal(CliHarness.Run(args).Stdout, CliHarness.Run(args).Stdout);
    }

    [Fact]
    public void Generate_Stream_PrintsSameTextAsBatchForGreedy()
    {
        using var dir = new TempDir();
        string m = NewModel(dir);
        var batch = CliHarness.Run("generate", "--model", m, "--prompt", "The cat", "--max-new-tokens", "6");
        var streamed = CliHarness.Run("generate", "--model", m, "--prompt", "The cat", "--max-new-tokens", "6", "--stream");
        Assert.Equal(0, streamed.ExitCode);
        Assert.Equal(batch.Stdout.Trim(), streamed.Stdout.Trim());
    }

    [Theory]
    [InlineData("--temperature", "-0.5", "temperature")]
    [InlineData("--top-p", "0", "top_p")]
    [InlineData("--top-p", "1.01", "top_p")]
    [InlineData("--top-k", "-1", "top_k")]
    public void Generate_InvalidSamplingValue_ExitsWith2NamingIt(string flag, string value, string name)
    {
        using var dir = new TempDir();
        string m = NewModel(dir);
        var r = CliHarness.Run("generate", "--model", m, "--prompt", "x", flag, value);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(name, r.Stderr);
    }

    [Fact]
    public void Generate_PromptLongerThanContext_ExitsWith2_OrTruncatesWhenAsked()
    {
        using var dir = new TempDir();
        string m = NewModel(dir);
        string longPrompt = string.Join(" ", Enumerable.Repeat("word", 60));
        var r = CliHarness.Run("generate", "--model", m, "--prompt", longPrompt, "--max-new-tokens", "4");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("context", r.Stderr);
        var t = CliHarness.Run("generate", "--model", m, "--prompt", longPrompt, "--max-new-tokens", "4", "--truncate-prompt");
        Assert.Equal(0, t.ExitCode);
    }

    [Fact]
    public void Generate_TokenizerLargerThanModelVocab_ExitsWith2()
    {
        using var dir = new TempDir();
        string m = NewModel(dir, "--set", "vocab_size=1000");
        var r = CliHarness.Run("generate", "--model", m, "--prompt", "x");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("50257", r.Stderr);
        Assert.Contains("1000", r.Stderr);
    }

    [Fact]
    public void Generate_MissingModelFolder_ExitsWith2()
    {
        using var dir = new TempDir();
        var r = CliHarness.Run("generate", "--model", dir["nope"], "--prompt", "x", "--tokenizer", GptVocabDir);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("nope", r.Stderr);
    }
}
