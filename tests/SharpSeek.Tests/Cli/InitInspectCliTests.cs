using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Cli;

public class InitInspectCliTests
{
    [Fact]
    public void Init_TinyPresetWithOverride_WritesLoadableModelFolder()
    {
        using var dir = new TempDir();
        string outDir = dir["m"];
        var r = CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "n_layer=1", "--set", "vocab_size=300", "--out", outDir);
        Assert.Equal(0, r.ExitCode);
        Assert.True(File.Exists(Path.Combine(outDir, "model.safetensors")));
        using var model = SharpSeek.Models.Gpt2.Gpt2LMHeadModel.FromPretrained(outDir);
        Assert.Equal(1, model.Config.NLayer);
        Assert.Equal(300, model.VocabSize);
    }

    [Fact]
    public void Init_ExistingNonEmptyFolder_ExitsWith2AndKeepsFiles()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["keep.txt"], "precious");
        var r = CliHarness.Run("init", "--preset", "tiny", "--out", dir.Path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not empty", r.Stderr);
        Assert.Equal("precious", File.ReadAllText(dir["keep.txt"]));
        Assert.False(File.Exists(dir["config.json"]));
    }

    [Fact]
    public void Init_UnknownPreset_ExitsWith2WithoutStackTrace()
    {
        using var dir = new TempDir();
        var r = CliHarness.Run("init", "--preset", "enormous", "--out", dir["m"]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: unknown gpt2 preset 'enormous'", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.False(Directory.Exists(dir["m"]));
    }

    [Fact]
    public void Init_InvalidOverride_ExitsWith2()
    {
        using var dir = new TempDir();
        var r = CliHarness.Run("init", "--preset", "tiny", "--set", "n_head=3", "--out", dir["m"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("n_embd (64) must be a positive multiple of n_head (3)", r.Stderr);
        Assert.False(File.Exists(Path.Combine(dir["m"], "model.safetensors")));
    }

    [Fact]
    public void Inspect_TinyModel_ShowsParameterCountAndKvBytes()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliHarness.Run("init", "--preset", "tiny", "--set", "vocab_size=100", "--out", dir["m"]).ExitCode);
        var r = CliHarness.Run("inspect", "--model", dir["m"]);
        Assert.Equal(0, r.ExitCode);
        // 2 layers × (12·64² + 13·64) + wte 100·64 + wpe 256·64 + ln_f 2·64
        long expected = 2 * (12 * 64 * 64 + 13 * 64) + 100 * 64 + 256 * 64 + 2 * 64;
        Assert.Contains(expected.ToString("N0"), r.Stdout);
        Assert.Contains((2 * 2 * 64 * 4).ToString("N0"), r.Stdout);               // K and V, 2 layers, fp32
        Assert.Contains("transformer.h.1.attn.c_attn.weight", r.Stdout);
    }

    [Fact]
    public void Inspect_CorruptSafetensors_ExitsWith2NamingFile()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliHarness.Run("init", "--preset", "tiny", "--set", "vocab_size=100", "--out", dir["m"]).ExitCode);
        string st = Path.Combine(dir["m"], "model.safetensors");
        var bytes = File.ReadAllBytes(st);
        File.WriteAllBytes(st, bytes[..(bytes.Length / 2)]);                       // truncated download
        var r = CliHarness.Run("inspect", "--model", dir["m"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("model.safetensors", r.Stderr);
    }

    [Fact]
    public void UnknownOption_ExitsWith2()
    {
        var r = CliHarness.Run("inspect", "--model", "x", "--bogus");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--bogus", r.Stderr);
    }
}

public class DeepSeekCliTests
{
    [Fact]
    public void InitInspectGenerate_DeepSeekTiny_WorksEndToEnd()
    {
        using var dir = new TempDir();
        string m = dir["ds"];
        var init = CliHarness.Run("init", "--arch", "deepseek", "--preset", "tiny", "--set", "vocab_size=512", "--out", m);
        Assert.True(init.ExitCode == 0, init.Stderr);
        var inspect = CliHarness.Run("inspect", "--model", m);
        Assert.Equal(0, inspect.ExitCode);
        Assert.Contains("active parameters per token", inspect.Stdout);
        Assert.Contains("model.layers.1.mlp.experts.0.gate_proj.weight", inspect.Stdout);
        var gen = CliHarness.Run("generate", "--model", m, "--prompt", "Hello", "--max-new-tokens", "6");
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        Assert.StartsWith("Hello", gen.Stdout);
    }
}
