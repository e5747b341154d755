using SharpSeek.Checkpoints.Gguf;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Checkpoints.Gguf;

public class GgufExporterTests
{
    [Theory]
    [InlineData(GgufType.Q8_0, "blk.0.attn_norm.weight", new long[] { 64 }, GgufType.F32)]
    [InlineData(GgufType.Q4_0, "position_embd.weight", new long[] { 64, 64 }, GgufType.F32)]
    [InlineData(GgufType.F16, "blk.1.ffn_gate_inp.weight", new long[] { 8, 64 }, GgufType.F32)]
    [InlineData(GgufType.Q4_0, "blk.0.attn_k_b.weight", new long[] { 4, 32, 16 }, GgufType.F16)]
    [InlineData(GgufType.Q8_0, "blk.0.attn_qkv.weight", new long[] { 192, 64 }, GgufType.Q8_0)]
    [InlineData(GgufType.F16, "token_embd.weight", new long[] { 320, 48 }, GgufType.F16)]
    [InlineData(GgufType.F32, "output.weight", new long[] { 320, 64 }, GgufType.F32)]
    public void TensorType_ByNameAndShape_FollowsQuantizerRules(GgufType requested, string name, long[] shape, GgufType expected) =>
        Assert.Equal(expected, GgufExporter.TensorType(requested, name, shape));

    [Fact]
    public void DeepSeekRefusal_MoeWithoutSharedExperts_NamesNSharedExperts()
    {
        var why = GgufExporter.DeepSeekRefusal(new DeepSeekV3Config { NSharedExperts = 0 });
        Assert.NotNull(why);
        Assert.StartsWith("n_shared_experts 0 cannot be expressed", why);
    }

    [Fact]
    public void DeepSeekRefusal_LiteLayerCountWithQueryCompression_NamesQLoraRank()
    {
        var why = GgufExporter.DeepSeekRefusal(new DeepSeekV3Config { NumHiddenLayers = 27, QLoraRank = 32 });
        Assert.NotNull(why);
        Assert.StartsWith("q_lora_rank 32 with num_hidden_layers 27 cannot be expressed", why);
    }

    [Fact]
    public void DeepSeekRefusal_GroupLimitedMoeWithSharedExpert_IsNull() =>
        Assert.Null(GgufExporter.DeepSeekRefusal(new DeepSeekV3Config { NGroup = 4, TopkGroup = 2, NSharedExperts = 1 }));

    [Fact]
    public void Gpt2Refusal_ReluActivation_NamesActivation()
    {
        var why = GgufExporter.Gpt2Refusal(new Gpt2Config { ActivationFunction = "relu" });
        Assert.NotNull(why);
        Assert.StartsWith("activation_function 'relu' cannot be expressed", why);
    }

    [Fact]
    public void Export_DeepSeekWithMtpAtQ8_0_NotesDroppedModuleAndF16Fallback()
    {
        using var dir = new TempDir();
        string model = GgufTestModels.Create(dir["m"], GgufTestModels.DeepSeekMoe);

        var result = GgufExporter.Export(model, dir["m.gguf"], GgufType.Q8_0);

        Assert.Equal("deepseek2", result.Architecture);
        Assert.Contains(result.Notes, n => n.StartsWith("1 multi-token-prediction module(s) (layers 3..3) dropped"));
        // attn_k_b rows are qk_nope_head_dim = 16 long in each of the 3 layers: not whole q8_0 blocks.
        Assert.Contains("3 matrices with rows not divisible by 32 stored as f16 instead of q8_0", result.Notes);
    }

    [Fact]
    public void Export_ModelWithoutTokenizer_ThrowsAndWritesNothing()
    {
        using var dir = new TempDir();
        string model = GgufTestModels.Create(dir["m"], GgufTestModels.Gpt2);
        File.Delete(Path.Combine(model, "tokenizer.json"));
        File.Delete(Path.Combine(model, "tokenizer_config.json"));

        Assert.Throws<TokenizerException>(() => GgufExporter.Export(model, dir["m.gguf"]));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void GgufVocabRead_AsciiCharVocabulary_ByteLevelTokensThenPads()
    {
        using var dir = new TempDir();
        new CharTokenizer(["\n", " ", "a"]).Save(dir[CharTokenizer.FileName]);

        var vocab = GgufVocab.Read(dir.Path, 5);

        Assert.Equal(["Ċ", "Ġ", "a", "[PAD3]", "[PAD4]"], vocab.Tokens);
        Assert.Equal([GgufVocab.Normal, GgufVocab.Normal, GgufVocab.Normal, GgufVocab.Unused, GgufVocab.Unused], vocab.TokenTypes);
        Assert.Empty(vocab.Merges);
    }

    [Fact]
    public void GgufVocabRead_NonAsciiCharVocabulary_ThrowsConfigException()
    {
        using var dir = new TempDir();
        new CharTokenizer(["a", "é"]).Save(dir[CharTokenizer.FileName]);

        var e = Assert.Throws<ConfigException>(() => GgufVocab.Read(dir.Path, 2));
        Assert.Contains("'é' (U+00E9), which is not a single byte", e.Message);
    }

    [Fact]
    public void GgufVocabRead_TokenizerLargerThanModel_ThrowsConfigException()
    {
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);

        var e = Assert.Throws<ConfigException>(() => GgufVocab.Read(dir.Path, 200));
        Assert.Contains("the tokenizer has 257 ids but the model's vocab_size is 200", e.Message);
    }
}
