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
        var first = CliHarness.Run(args);
        var second = CliHarness.Run(args);
        Assert.Equal(0, first.ExitCode);
        Assert.Equal(first.Stdout, second.Stdout);
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
        string m = dir["m"];
        Assert.Equal(0, CliHarness.Run("init", "--preset", "tiny", "--set", "vocab_size=1000", "--set", "n_positions=32", "--out", m).ExitCode);
        var r = CliHarness.Run("generate", "--model", m, "--tokenizer", GptVocabDir, "--prompt", "x");
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

public class BadModelFolderCliTests
{
    /// <summary>A tiny model folder with the GPT-2 tokenizer, damaged by <paramref name="damage"/>.</summary>
    private static string DamagedModel(TempDir dir, Action<string> damage)
    {
        string m = dir["m"];
        var r = CliHarness.Run("init", "--preset", "tiny", "--set", "n_positions=32", "--out", m, "--tokenizer", Path.Combine(Fixtures.Root, "tokenizer", "gpt2_bpe"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        damage(m);
        return m;
    }

    private static void Resave(string m, Func<Dictionary<string, TorchSharp.torch.Tensor>, Dictionary<string, TorchSharp.torch.Tensor>> edit)
    {
        Dictionary<string, TorchSharp.torch.Tensor> tensors;
        using (var f = SharpSeek.Checkpoints.SafeTensorsFile.Open(Path.Combine(m, "model.safetensors")))
            tensors = f.Tensors.Keys.ToDictionary(k => k, f.Load);
        SharpSeek.Checkpoints.SafeTensors.Save(Path.Combine(m, "model.safetensors"), edit(tensors));
    }

    public static TheoryData<string, string> Cases => new()
    {
        { "missing-tensor", "missing tensor 'transformer.h.0.mlp.c_fc.bias'" },
        { "extra-tensor", "unexpected tensor 'transformer.h.9.ln_1.weight'" },
        { "wrong-shape", "config.json implies" },
        { "unknown-activation", "activation_function 'swishy' is not supported" },
        { "truncated-weights", "model.safetensors" },
        { "no-config", "no config.json" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Generate_DamagedModelFolder_ExitsWith2NamingTheProblem(string damage, string expected)
    {
        using var dir = new TempDir();
        string m = DamagedModel(dir, m =>
        {
            string cfg = Path.Combine(m, "config.json"), st = Path.Combine(m, "model.safetensors");
            switch (damage)
            {
                case "missing-tensor": Resave(m, t => { t.Remove("transformer.h.0.mlp.c_fc.bias"); return t; }); break;
                case "extra-tensor": Resave(m, t => { t["transformer.h.9.ln_1.weight"] = TorchSharp.torch.ones(64); return t; }); break;
                case "wrong-shape": File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"n_embd\": 64", "\"n_embd\": 128")); break;
                case "unknown-activation": File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("gelu_new", "swishy")); break;
                case "truncated-weights": File.WriteAllBytes(st, File.ReadAllBytes(st)[..1000]); break;
                case "no-config": File.Delete(cfg); break;
            }
        });
        byte[] before = File.Exists(Path.Combine(m, "model.safetensors")) ? File.ReadAllBytes(Path.Combine(m, "model.safetensors")) : [];
        var r = CliHarness.Run("generate", "--model", m, "--prompt", "hello");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.Equal(before, File.Exists(Path.Combine(m, "model.safetensors")) ? File.ReadAllBytes(Path.Combine(m, "model.safetensors")) : []);
    }
}
