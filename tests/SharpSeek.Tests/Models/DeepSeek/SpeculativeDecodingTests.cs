using SharpSeek.Generation;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Tests.Training;
using SharpSeek.Training;
using TorchSharp;

namespace SharpSeek.Tests.Models.DeepSeek;

/// <summary>Self-speculative decoding with the MTP module must reproduce plain greedy decoding exactly.</summary>
public sealed class SpeculativeDecodingTests
{
    private static DeepSeekV3Config Tiny() => new()
    {
        VocabSize = 48, HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
        NRoutedExperts = 4, NGroup = 1, TopkGroup = 1, NumExpertsPerTok = 2, KvLoraRank = 16, QLoraRank = null,
        QkNopeHeadDim = 8, QkRopeHeadDim = 4, VHeadDim = 8, MaxPositionEmbeddings = 64, NumNextnPredictLayers = 1, InitializerRange = 0.5,
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Generate_RandomModel_EqualsGreedy(int draftTokens)
    {
        torch.manual_seed(11);
        using var model = new DeepSeekV3ForCausalLM(Tiny());
        int[] prompt = [3, 17, 5, 40, 8];
        var greedy = SpeculativeDecoder.Greedy(model, prompt, 30);
        var spec = new SpeculativeDecoder(model, draftTokens).Generate(prompt, 30);
        Assert.Equal(greedy.Tokens, spec.Tokens);
        Assert.Equal(30, spec.Tokens.Count);
    }

    [Fact]
    public void Generate_WithEos_StopsAtTheSameTokenAsGreedy()
    {
        torch.manual_seed(11);
        using var model = new DeepSeekV3ForCausalLM(Tiny());
        int[] prompt = [3, 17, 5, 40, 8];
        int eos = SpeculativeDecoder.Greedy(model, prompt, 30).Tokens[7];
        var greedy = SpeculativeDecoder.Greedy(model, prompt, 30, eos);
        var spec = new SpeculativeDecoder(model, 3).Generate(prompt, 30, eos);
        Assert.Equal(greedy.Tokens, spec.Tokens);
        Assert.Equal(eos, spec.Tokens[^1]);
    }

    [Fact]
    public void Generate_BrieflyTrainedModel_EqualsGreedyAndAcceptsDrafts()
    {
        var c = TrainingDeepSeekTests.Tiny(TrainingTestData.TempDir()) with { MaxSteps = 60, EvalInterval = 60, Lr = 1e-2, MinLr = 1e-3, MtpLossWeight = 1.0 };
        DeepSeekV3ForCausalLM? model = null;
        var data = TrainingTestData.Data();
        new Trainer(c, data, dir => model = (DeepSeekV3ForCausalLM)TrainingModels.For(c, data.VocabSize)(dir)).Run();
        var (tokens, _) = TrainingTestData.Corpus();
        var prompt = tokens[..6];
        var greedy = SpeculativeDecoder.Greedy(model!, prompt, 40);
        var spec = new SpeculativeDecoder(model!, 3).Generate(prompt, 40);
        Assert.Equal(greedy.Tokens, spec.Tokens);
        Assert.True(spec.AcceptanceRate > 0.5, $"acceptance {spec.AcceptanceRate:P0}");
        Assert.True(spec.MainForwards < greedy.MainForwards, $"{spec.MainForwards} vs {greedy.MainForwards} main forwards");
    }

    [Fact]
    public void Constructor_ModelWithoutMtp_ThrowsGenerationException()
    {
        using var model = new DeepSeekV3ForCausalLM(Tiny() with { NumNextnPredictLayers = 0 });
        Assert.Throws<GenerationException>(() => new SpeculativeDecoder(model));
    }
}
