using SharpSeek.Generation;
using SharpSeek.Models.Common;
using TorchSharp;
using Generator = SharpSeek.Generation.Generator;

namespace SharpSeek.Tests.Generation;

public class SlidingWindowTests
{
    private static CausalLM Model(string family) => TestModels.Create(family, positions: 16, seed: 11);

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_PastContextWithSlidingWindow_ProducesAllTokensAndStartsLikePlainGreedy(string family)
    {
        var gen = new Generator(Model(family), new ByteTokenizer());
        var plain = gen.Generate([[1, 2, 3, 4]], new GenerationOptions { MaxNewTokens = 8 })[0];
        var slid = gen.Generate([[1, 2, 3, 4]], new GenerationOptions { MaxNewTokens = 40, SlidingWindow = true })[0];
        Assert.Equal(40, slid.TokenIds.Count);
        Assert.Equal(FinishReason.Length, slid.FinishReason);
        Assert.Equal(plain.TokenIds, slid.TokenIds.Take(8));
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_PastContextWithoutSlidingWindow_ThrowsNamingContext(string family)
    {
        var gen = new Generator(Model(family), new ByteTokenizer());
        var e = Assert.Throws<GenerationException>(() => gen.Generate([[1, 2, 3, 4]], new GenerationOptions { MaxNewTokens = 40 }));
        Assert.Contains("context", e.Message);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_SlidingWindowSampling_SameSeedSameTokens(string family)
    {
        var gen = new Generator(Model(family), new ByteTokenizer());
        var o = new GenerationOptions { MaxNewTokens = 30, SlidingWindow = true, DoSample = true, Seed = 5 };
        Assert.Equal(gen.Generate([[7, 8]], o)[0].TokenIds, gen.Generate([[7, 8]], o)[0].TokenIds);
    }
}

public class VocabularyLimitTests
{
    [Fact]
    public void Process_PaddedVocabulary_MasksIdsPastTheTokenizer()
    {
        var logits = torch.tensor(new float[] { 1, 2, 3, 9, 8 }).unsqueeze(0);       // ids 3 and 4 are padding
        var masked = new VocabularyLimitProcessor(3).Process(torch.zeros(1, 1, torch.ScalarType.Int64), logits);
        Assert.Equal(2, masked.argmax(-1).item<long>());
        Assert.True(float.IsNegativeInfinity(masked[0, 4].item<float>()));
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_ModelVocabLargerThanTokenizer_NeverEmitsPaddingIds(string family)
    {
        var gen = new Generator(TestModels.Create(family, vocabSize: 320, seed: 3), new ByteTokenizer());   // 256 ids
        var results = gen.Generate([[1, 2, 3]], new GenerationOptions { MaxNewTokens = 40, DoSample = true, TopK = 0, Temperature = 5, Seed = 1, NumReturnSequences = 4 });
        Assert.All(results.SelectMany(r => r.TokenIds), id => Assert.InRange(id, 0, 255));
    }
}
