using SharpSeek.Generation;
using SharpSeek.Models.DeepSeek;
using TorchSharp;

namespace SharpSeek.Tests.Generation;

/// <summary><see cref="Generator"/> on a tiny DeepSeek-V3 model (MLA cache): beam search reorders the cache every step.</summary>
public class DeepSeekGenerationTests
{
    private static Generator Tiny()
    {
        torch.manual_seed(31);
        var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { VocabSize = 256, NumHiddenLayers = 2 });
        model.eval();
        return new Generator(model, new ByteTokenizer());
    }

    [Fact]
    public void Generate_DeepSeekBeamSearch_CachedEqualsUncached()
    {
        var gen = Tiny();
        var options = new GenerationOptions { MaxNewTokens = 6, NumBeams = 3, NumReturnSequences = 3, EosTokenId = [] };
        var cached = gen.Generate(["Hello", "Hi"], options);
        var uncached = gen.Generate(["Hello", "Hi"], options with { UseCache = false });
        Assert.Equal(6, cached.Count);
        Assert.Equal(uncached.Select(r => r.TokenIds.ToArray()), cached.Select(r => r.TokenIds.ToArray()));
        Assert.All(cached, r => Assert.Equal(6, r.TokenIds.Count));
    }

    [Fact]
    public void Generate_DeepSeekGreedyBatch_CachedEqualsUncached()
    {
        var gen = Tiny();
        var options = new GenerationOptions { MaxNewTokens = 5, EosTokenId = [] };
        var cached = gen.Generate(["Hello there", "Hi"], options);
        var uncached = gen.Generate(["Hello there", "Hi"], options with { UseCache = false });
        Assert.Equal(uncached.Select(r => r.TokenIds.ToArray()), cached.Select(r => r.TokenIds.ToArray()));
    }
}
