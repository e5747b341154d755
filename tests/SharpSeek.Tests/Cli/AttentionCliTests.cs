using System.Buffers.Binary;
using System.Text.Json;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Cli;

public class AttentionCliTests
{
    private const string Text = "to be or not to be";

    /// <summary>A tiny random model folder of <paramref name="family"/> with a char tokenizer built from <see cref="Text"/>.</summary>
    private static string Model(TempDir tmp, string family)
    {
        string json = family == "gpt2"
            ? """{"model_type": "gpt2", "vocab_size": 32, "n_positions": 32, "n_embd": 16, "n_layer": 2, "n_head": 2}"""
            : """
              {"model_type": "deepseek_v3", "vocab_size": 32, "max_position_embeddings": 32, "hidden_size": 32, "intermediate_size": 64,
               "moe_intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 2, "first_k_dense_replace": 1,
               "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 2, "n_group": 2, "topk_group": 1, "kv_lora_rank": 16,
               "q_lora_rank": 16, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 8, "num_nextn_predict_layers": 0}
              """;
        string dir = tmp[family];
        (SharpSeek.Models.ModelFactory.CreateAndSave(json, dir) as IDisposable)?.Dispose();
        CharTokenizer.FromCorpus(Text).Save(Path.Combine(dir, CharTokenizer.FileName));
        return dir;
    }

    /// <summary>Width and height from a PNG's IHDR chunk, after checking the 8-byte signature.</summary>
    private static (int Width, int Height) PngSize(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        return (BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("deepseek")]
    public void Attention_OneHead_WritesPngAndJsonRowsSumToOne(string family)
    {
        using var tmp = new TempDir();
        string model = Model(tmp, family);
        var r = CliHarness.Run("attention", "--model", model, "--text", Text, "--layer", "1", "--head", "1", "--out", tmp["a.png"], "--json", tmp["a.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var (w, h) = PngSize(tmp["a.png"]);
        Assert.True(w >= 500 && h >= 500, $"{w}x{h}");
        using var doc = JsonDocument.Parse(File.ReadAllText(tmp["a.json"]));
        var probs = doc.RootElement.GetProperty("layers")[0].GetProperty("heads")[0].GetProperty("probs");
        Assert.Equal(Text.Length, probs.GetArrayLength());
        foreach (var row in probs.EnumerateArray()) Assert.Equal(1.0, row.EnumerateArray().Sum(v => v.GetDouble()), 4);
    }

    [Fact]
    public void Attention_NoLayer_GridWithEntropySummaryOfEveryLayer()
    {
        using var tmp = new TempDir();
        string model = Model(tmp, "gpt2");
        var r = CliHarness.Run("attention", "--model", model, "--text", Text, "--out", tmp["grid.png"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("layer  0:", r.Stdout);
        Assert.Contains("layer  1:", r.Stdout);
        var (w, h) = PngSize(tmp["grid.png"]);
        Assert.True(w >= 2 * 360 && h >= 2 * 360, $"{w}x{h}");                 // entropy panel + 2 heads: a 2 x 2 grid
    }

    [Theory]
    [InlineData("--layer", "2")]
    [InlineData("--layer", "-1")]
    [InlineData("--head", "2")]
    public void Attention_IndexOutOfRange_ExitsTwoAndWritesNothing(string flag, string value)
    {
        using var tmp = new TempDir();
        string model = Model(tmp, "gpt2");
        var r = CliHarness.Run("attention", "--model", model, "--text", Text, flag, value, "--out", tmp["x.png"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("out of range", r.Stderr);
        Assert.False(File.Exists(tmp["x.png"]));
    }
}
