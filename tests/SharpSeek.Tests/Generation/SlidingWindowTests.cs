using SharpSeek.Generation;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using Generator = SharpSeek.Generation.Generator;

namespace SharpSeek.Tests.Generation;

public class SlidingWindowTests
{
    private static Gpt2LMHeadModel Model()
    {
        torch.manual_seed(11);
        var m = new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 256, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 2 });
        m.eval();
        return m;
    }

    [Fact]
    public void Generate_PastContextWithSlidingWindow_ProducesAllTokensAndStartsLikePlainGreedy()
    {
        using var model = Model();
        var gen = new Generator(model, new ByteTokenizer());
        var plain = gen.Generate([[1, 2, 3, 4]], new GenerationOptions { MaxNewTokens = 8 })[0];
        var slid = gen.Generate([[1, 2, 3, 4]], new GenerationOptions { MaxNewTokens = 40, SlidingWindow = true })[0];
        Assert.Equal(40, slid.TokenIds.Count);
        Assert.Equal(FinishReason.Length, slid.FinishReason);
        Assert.Equal(plain.TokenIds, slid.TokenIds.Take(8));
    }

    [Fact]
    public void Generate_PastContextWithoutSlidingWindow_ThrowsNamingContext()
    {
        using var model = Model();
        var gen = new Generator(model, new ByteTokenizer());
        var e = Assert.Throws<GenerationException>(() => gen.Generate([[1, 2, 3, 4]], new GenerationOptions { MaxNewTokens = 40 }));
        Assert.Contains("context", e.Message);
    }

    [Fact]
    public void Generate_SlidingWindowSampling_SameSeedSameTokens()
    {
        using var model = Model();
        var gen = new Generator(model, new ByteTokenizer());
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

    [Fact]
    public void Generate_ModelVocabLargerThanTokenizer_NeverEmitsPaddingIds()
    {
        torch.manual_seed(3);
        using var model = new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 320, NPositions = 64, NEmbd = 32, NLayer = 1, NHead = 2 });
        model.eval();
        var gen = new Generator(model, new ByteTokenizer());                         // 256 ids
        var results = gen.Generate([[1, 2, 3]], new GenerationOptions { MaxNewTokens = 40, DoSample = true, TopK = 0, Temperature = 5, Seed = 1, NumReturnSequences = 4 });
        Assert.All(results.SelectMany(r => r.TokenIds), id => Assert.InRange(id, 0, 255));
    }
}
