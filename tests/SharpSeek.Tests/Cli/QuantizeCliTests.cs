using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Quantization;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;
using static SharpSeek.Tests.Quantization.QuantizedModels;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Cli;

public class QuantizeCliTests
{
    /// <summary>
    /// A float model folder of <paramref name="kind"/> (QuantizedModels); GPT-2 with 320 ids and the byte tokenizer (257 ids),
    /// so generate and eval run on it, DeepSeek without a tokenizer.
    /// </summary>
    private static string FloatFolder(TempDir dir, string kind)
    {
        string path = dir["float"];
        torch.manual_seed(7);
        using var model = kind == Gpt2 ? new SharpSeek.Models.Gpt2.Gpt2LMHeadModel(Gpt2Config() with { VocabSize = 320 }) : Create(kind);
        model.SavePretrained(path);
        if (kind == Gpt2) ByteTokenizerFiles.Write(path);
        return path;
    }

    [Theory]
    [InlineData(Gpt2, "4", "--group-size", "64")]
    [InlineData(DeepSeek, "4", "--group-size", "32")]
    [InlineData(DeepSeekNoQLora, "8", "--include-embeddings", "--zero-point")]
    public void Quantize_FloatFolder_WritesFolderThatLoadsWithItsSettings(string kind, string bits, string flag1, string flag2)
    {
        using var dir = new TempDir();
        string src = FloatFolder(dir, kind), outDir = dir["q"];
        string[] args = ["quantize", "--model", src, "--out", outDir, "--bits", bits, "--include-head", flag1, .. flag1 == "--group-size" ? [flag2] : Array.Empty<string>()];
        if (flag2 == "--zero-point") { var r8 = CliHarness.Run([.. args, flag2]); Assert.Equal(2, r8.ExitCode); Assert.False(Directory.Exists(outDir)); }
        var r = CliHarness.Run(args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("MB ->", r.Stdout);
        foreach (var name in TokenizerFiles.Names.Where(n => File.Exists(Path.Combine(src, n))))
            Assert.Equal(File.ReadAllBytes(Path.Combine(src, name)), File.ReadAllBytes(Path.Combine(outDir, name)));
        var q = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "config.json")))![QuantizationConfig.Key]!;
        Assert.Equal("sharpseek", q["quant_method"]!.GetValue<string>());
        Assert.Equal(int.Parse(bits), q["bits"]!.GetValue<int>());
        Assert.True(new FileInfo(Path.Combine(outDir, CheckpointFolder.SingleFile)).Length < new FileInfo(Path.Combine(src, CheckpointFolder.SingleFile)).Length / 2);
        using var loaded = ModelLoader.Load(outDir);
        Assert.Equal(int.Parse(bits), loaded.Quantization!.Bits);
        Assert.True(loaded.Quantization.IncludeHead);
        Assert.NotNull(loaded.OutputHead.Quantized);
        var inspect = CliHarness.Run("inspect", "--model", outDir);
        Assert.Equal(0, inspect.ExitCode);
        static string Parameters(string table) => table.Split('\n').First(l => l.Contains("parameters"));
        Assert.Equal(Parameters(CliHarness.Run("inspect", "--model", src).Stdout), Parameters(inspect.Stdout));   // the weights they stand for
        if (kind != Gpt2) return;
        var g = CliHarness.Run("generate", "--model", outDir, "--prompt", "to be", "--max-new-tokens", "4");
        Assert.True(g.ExitCode == 0, g.Stderr);
        File.WriteAllText(dir["text.txt"], "to be or not to be, that is the question");
        var e = CliHarness.Run("eval", "--model", outDir, "--data", dir["text.txt"], "--block-size", "16");
        Assert.True(e.ExitCode == 0, e.Stderr);
        Assert.Contains("perplexity", e.Stdout);
    }

    [Fact]
    public void Quantize_ExistingOutFolder_ExitsWith2AndKeepsIt()
    {
        using var dir = new TempDir();
        string src = FloatFolder(dir, Gpt2);
        Directory.CreateDirectory(dir["q"]);
        File.WriteAllText(Path.Combine(dir["q"], "config.json"), "precious");
        var r = CliHarness.Run("quantize", "--model", src, "--out", dir["q"], "--bits", "8");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains("already exists", r.Stderr);
        Assert.Equal("precious", File.ReadAllText(Path.Combine(dir["q"], "config.json")));
    }

    [Fact]
    public void Quantize_DimensionNotDivisibleByGroup_ExitsWith2NamingTheTensorAndWritesNothing()
    {
        using var dir = new TempDir();
        string src = FloatFolder(dir, DeepSeek);                                                // experts' down_proj takes 32 inputs
        var r = CliHarness.Run("quantize", "--model", src, "--out", dir["q"], "--bits", "4", "--group-size", "64");
        Assert.Equal(2, r.ExitCode);
        Assert.Matches(@"^error: model\.layers\.\d+\..*\.weight: input dimension 32 is not divisible by the group size 64", r.Stderr);
        Assert.False(Directory.Exists(dir["q"]));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(dir.Path), p => Path.GetFileName(p).StartsWith('.'));   // no temporary folder left
    }

    [Theory]
    [InlineData("3", null, "bits must be 8 or 4, got 3")]
    [InlineData("4", "48", "group_size must be 32, 64 or 128 for bits 4, got 48")]
    [InlineData("8", "64", "--group-size applies to --bits 4 only")]
    public void Quantize_UnsupportedSettings_ExitsWith2AndWritesNothing(string bits, string? group, string message)
    {
        using var dir = new TempDir();
        string src = FloatFolder(dir, Gpt2);
        string[] args = ["quantize", "--model", src, "--out", dir["q"], "--bits", bits, .. group is null ? Array.Empty<string>() : ["--group-size", group]];
        var r = CliHarness.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.False(Directory.Exists(dir["q"]));
    }

    /// <summary>A quantized GPT-2 folder (int4 g64 with zero points) whose safetensors or config.json the test then breaks.</summary>
    private static string QuantizedFolder(TempDir dir)
    {
        string src = FloatFolder(dir, Gpt2), outDir = dir["q"];
        Assert.Equal(0, CliHarness.Run("quantize", "--model", src, "--out", outDir, "--bits", "4", "--zero-point").ExitCode);
        return outDir;
    }

    private static void RewriteTensors(string folder, Func<Dictionary<string, Tensor>, Dictionary<string, Tensor>> change)
    {
        string path = Path.Combine(folder, CheckpointFolder.SingleFile);
        Dictionary<string, Tensor> tensors;
        using (var f = SafeTensorsFile.Open(path)) tensors = f.Tensors.Keys.ToDictionary(n => n, f.Load);
        SafeTensors.Save(path, change(tensors));
    }

    [Fact]
    public void Load_MissingScales_ExitsWith2NamingTheTensor()
    {
        using var dir = new TempDir();
        string q = QuantizedFolder(dir);
        const string name = "transformer.h.1.mlp.c_fc.weight_scale";
        RewriteTensors(q, t => { t.Remove(name); return t; });
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(q));
        Assert.Contains($"'{name}'", e.Message);
        var r = CliHarness.Run("inspect", "--model", q);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"missing tensor '{name}'", r.Stderr);
        var ev = CliHarness.Run("generate", "--model", q, "--prompt", "ab", "--max-new-tokens", "2");
        Assert.Equal(2, ev.ExitCode);
        Assert.Contains(name, ev.Stderr);
    }

    [Theory]
    [InlineData("transformer.h.0.attn.c_attn.weight_scale")]
    [InlineData("transformer.h.0.attn.c_attn.weight_zero_point")]
    [InlineData("transformer.h.1.attn.c_proj.weight")]
    public void Load_MisShapedQuantizedTensor_ExitsWith2NamingTheTensor(string name)
    {
        using var dir = new TempDir();
        string q = QuantizedFolder(dir);
        RewriteTensors(q, t => { t[name] = t[name].narrow(1, 0, t[name].shape[1] / 2).contiguous(); return t; });
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(q));
        Assert.Contains($"'{name}' has shape", e.Message);
        var r = CliHarness.Run("inspect", "--model", q);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(name, r.Stderr);
    }

    [Fact]
    public void Load_ScalesOfWrongDType_ThrowsNamingTheTensor()
    {
        using var dir = new TempDir();
        string q = QuantizedFolder(dir);
        const string name = "transformer.h.0.mlp.c_proj.weight_scale";
        RewriteTensors(q, t => { t[name] = t[name].to(ScalarType.Float16); return t; });
        var e = Assert.Throws<CheckpointException>(() => ModelLoader.Load(q));
        Assert.Contains($"'{name}' has dtype F16, expected F32", e.Message);
    }

    [Theory]
    [InlineData("quant_method", "\"gptq\"", "quantization_config.quant_method 'gptq' is not supported")]
    [InlineData("bits", "3", "quantization_config.bits must be 8 or 4, got 3")]
    [InlineData("group_size", "48", "quantization_config.group_size must be 32, 64 or 128 for bits 4, got 48")]
    [InlineData("format_version", "2", "quantization_config.format_version 2 is not supported")]
    [InlineData("act_order", "true", "quantization_config.act_order is not a known key")]
    [InlineData("bits", "\"four\"", "quantization_config.bits has the wrong type")]
    public void Load_UnknownQuantizationConfig_ExitsWith2NamingTheKey(string key, string value, string message)
    {
        using var dir = new TempDir();
        string q = QuantizedFolder(dir);
        string configPath = Path.Combine(q, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config[QuantizationConfig.Key]![key] = JsonNode.Parse(value);
        File.WriteAllText(configPath, config.ToJsonString());
        var e = Assert.Throws<ConfigException>(() => ModelLoader.Load(q));
        Assert.Contains(message, e.Message);
        var r = CliHarness.Run("generate", "--model", q, "--prompt", "ab", "--max-new-tokens", "2");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        var i = CliHarness.Run("inspect", "--model", q);
        Assert.Equal(2, i.ExitCode);
    }

    [Fact]
    public void Quantize_AlreadyQuantizedSource_ExitsWith2()
    {
        using var dir = new TempDir();
        string q = QuantizedFolder(dir);
        var r = CliHarness.Run("quantize", "--model", q, "--out", dir["qq"], "--bits", "8");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("already quantized", r.Stderr);
        Assert.False(Directory.Exists(dir["qq"]));
    }
}
