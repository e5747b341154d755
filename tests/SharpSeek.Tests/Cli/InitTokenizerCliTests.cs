using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Cli;

/// <summary><c>init</c> writes a tokenizer that fits the model, so <c>init</c> → <c>generate</c> needs no other step.</summary>
public class InitTokenizerCliTests
{
    private static string Gpt2BpeDir => Path.Combine(Fixtures.Root, "tokenizer", "gpt2_bpe");

    /// <summary>Generates from folder <paramref name="m"/> and checks it printed the prompt and something after it.</summary>
    private static void AssertGenerates(string m, params string[] extra)
    {
        var r = CliHarness.Run(["generate", "--model", m, "--prompt", "Hello", "--max-new-tokens", "6", .. extra]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.StartsWith("Hello", r.Stdout);
        Assert.True(r.Stdout.TrimEnd('\n').Length > "Hello".Length, r.Stdout);
    }

    [Fact]
    public void Init_Gpt2TinyWithoutTokenizerFlag_WritesGpt2BpeFromCacheAndGenerateRuns()
    {
        // The GPT-2 BPE comes from the cache `data prepare --tokenizer gpt2` fills (SHARPSEEK_CACHE/gpt2), pre-filled here: no network.
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["cache/gpt2"]);
        foreach (var f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(Gpt2BpeDir, f), Path.Combine(dir["cache/gpt2"], f));
        var init = CliProcess.Run(["init", "--arch", "gpt2", "--preset", "tiny", "--out", dir["m"]],
            new Dictionary<string, string> { ["SHARPSEEK_CACHE"] = dir["cache"] });
        Assert.True(init.ExitCode == 0, init.Stderr);
        Assert.Contains("gpt2 tokenizer (50,257 ids)", init.Stdout);
        Assert.Equal(50257, TokenizerLoader.Load(dir["m"]).VocabSize);
        AssertGenerates(dir["m"]);
    }

    [Fact]
    public void Init_DeepSeekTinyWithoutTokenizerFlag_GenerateAndBeamSearchRun()
    {
        using var dir = new TempDir();
        var init = CliHarness.Run("init", "--arch", "deepseek", "--preset", "tiny", "--out", dir["m"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        Assert.Contains("byte tokenizer (257 ids)", init.Stdout);
        AssertGenerates(dir["m"]);
        AssertGenerates(dir["m"], "--num-beams", "3");
    }

    [Fact]
    public void Init_Gpt2TinyWithByteTokenizer_GenerateRuns()
    {
        using var dir = new TempDir();
        var init = CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "n_positions=32", "--out", dir["m"], "--tokenizer", "byte");
        Assert.True(init.ExitCode == 0, init.Stderr);
        AssertGenerates(dir["m"]);
    }

    [Fact]
    public void Init_ByteTokenizer_IdsAreUtf8BytesAndEndOfTextIs256()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliHarness.Run("init", "--arch", "deepseek", "--preset", "tiny", "--out", dir["m"]).ExitCode);
        var tok = TokenizerLoader.Load(dir["m"]);
        Assert.Equal(257, tok.VocabSize);
        Assert.Equal(new[] { 72, 0xC3, 0xA9, 0x20, 0xF0, 0x9F, 0x98, 0x80 }, tok.Encode("Hé 😀"));
        Assert.Equal("Hé 😀", tok.Decode(tok.Encode("Hé 😀")));
        Assert.Equal((256, 256), (tok.EosId, tok.BosId));
    }

    [Fact]
    public void Init_TokenizerLargerThanVocab_ExitsWith2AndWritesNothing()
    {
        using var dir = new TempDir();
        var r = CliHarness.Run("init", "--arch", "deepseek", "--preset", "tiny", "--out", dir["m"], "--tokenizer", Gpt2BpeDir);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: the tokenizer", r.Stderr);
        Assert.Contains("50,257 ids but the model's vocab_size is 512", r.Stderr);
        Assert.False(Directory.Exists(dir["m"]));
    }

    [Fact]
    public void Init_UnknownTokenizer_ExitsWith2()
    {
        using var dir = new TempDir();
        var r = CliHarness.Run("init", "--arch", "deepseek", "--preset", "tiny", "--out", dir["m"], "--tokenizer", dir["nope"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("neither gpt2, byte nor an existing tokenizer folder", r.Stderr);
        Assert.False(Directory.Exists(dir["m"]));
    }

    [Fact]
    public void Init_VocabBelowByteTokenizer_WritesNoTokenizerAndSaysSo()
    {
        using var dir = new TempDir();
        var r = CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=100", "--out", dir["m"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("no tokenizer written: vocab_size 100", r.Stderr);
        Assert.Equal(["config.json", "model.safetensors"], Directory.GetFiles(dir["m"]).Select(Path.GetFileName).Order());
    }
}
