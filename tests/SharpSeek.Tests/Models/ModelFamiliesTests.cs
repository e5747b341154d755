using SharpSeek.Models;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using TorchSharp;

namespace SharpSeek.Tests.Models;

public class ModelFamiliesTests
{
    [Theory]
    [InlineData("gpt2", "gpt2")]
    [InlineData("deepseek", "deepseek_v3")]
    [InlineData("deepseek_v3", "deepseek_v3")]
    public void Get_ModelTypeOrAlias_ResolvesTheFamily(string name, string modelType)
    {
        Assert.Equal(modelType, ModelFamilies.Get(name).ModelType);
    }

    [Fact]
    public void Get_UnknownType_ThrowsConfigExceptionListingSupported()
    {
        var e = Assert.Throws<ConfigException>(() => ModelFamilies.Get("llama"));
        Assert.Equal("model type 'llama' is not supported (supported: gpt2, deepseek_v3 (deepseek))", e.Message);
    }

    [Fact]
    public void ResolveConfigJson_BothDeepSeekSpellings_SameConfig()
    {
        Assert.Equal(ModelFactory.ResolveConfigJson("deepseek", "tiny"), ModelFactory.ResolveConfigJson("deepseek_v3", "tiny"));
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 0)]
    [InlineData(true, 2)]
    public void Layout_DeepSeek_EqualsStateDictNamesAndShapes(bool qLora, int mtp)
    {
        var config = new DeepSeekV3Config { QLoraRank = qLora ? 16 : null, NumNextnPredictLayers = mtp };
        using var model = new DeepSeekV3ForCausalLM(config);
        var expected = DeepSeekV3ForCausalLM.Layout(config).Expected.Select(e => (e.Name, string.Join(",", e.Shape))).Order().ToList();
        var actual = model.HuggingFaceStateDict().Select(kv => (kv.Key, string.Join(",", kv.Value.shape))).Order().ToList();   // buffers come last in a state dict
        Assert.Equal(actual, expected);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Layout_Gpt2_EqualsHuggingFaceStateDict(bool tied)
    {
        var config = new Gpt2Config { VocabSize = 50, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 4, TieWordEmbeddings = tied };
        using var model = new Gpt2LMHeadModel(config);
        var expected = Gpt2LMHeadModel.Layout(config, "transformer.").Expected.Select(e => (e.Name, string.Join(",", e.Shape))).ToList();
        var sd = model.HuggingFaceStateDict();
        var actual = sd.Select(kv => (kv.Key, string.Join(",", kv.Value.shape))).ToList();
        foreach (var t in sd.Values) t.Dispose();
        Assert.Equal(actual, expected);
    }

    [Fact]
    public void TrainingConfigJson_Gpt2Shape_SetsPositionsAndDropouts()
    {
        string json = ModelFamilies.Get("gpt2").TrainingConfigJson(new ModelShape(128, 32, 2, 4, 64, 0.1, "tiny"));
        var c = System.Text.Json.JsonSerializer.Deserialize<Gpt2Config>(json)!;
        Assert.Equal((128, 32, 2, 4, 64, 0.1, 0.1, 0.1), (c.VocabSize, c.NPositions, c.NLayer, c.NHead, c.NEmbd, c.ResidPdrop, c.EmbdPdrop, c.AttnPdrop));
    }
}
