using SharpSeek.Generation;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;
using Generator = SharpSeek.Generation.Generator;

namespace SharpSeek.Tests.Generation;

public class GeneratorTests
{
    private static readonly ByteTokenizer Bytes = new();
    private static readonly string[] Prompts = ["Hello", "a", "The quick brown fox"];

    private static GenerationOptions Greedy(int n = 12) => new() { MaxNewTokens = n, EosTokenId = [] };

    private static GenerationOptions Sampling(long seed, int n = 16) =>
        new() { MaxNewTokens = n, DoSample = true, TopK = 0, Seed = seed, EosTokenId = [] };

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Forward_CachedStepsWithLeftPadding_EqualUncachedLogits(string family)
    {
        var model = TestModels.Create(family);
        using var _ = torch.no_grad();
        torch.manual_seed(3);
        var ids = torch.randint(0, 256, [2, 10], dtype: ScalarType.Int64);
        var mask = torch.ones(2, 10, dtype: ScalarType.Int64);
        mask[1, TensorIndex.Slice(0, 3)] = torch.tensor(0L);                    // row 1: three pad columns
        var full = model.Logits(ids, null, mask);                                 // (2, 10, V)

        using var cache = model.CreateKvCache(2, 10);
        var parts = new List<Tensor> { model.Logits(ids.narrow(1, 0, 6), cache, mask.narrow(1, 0, 6)) };
        for (int t = 6; t < 10; t++) parts.Add(model.Logits(ids.narrow(1, t, 1), cache, mask.narrow(1, 0, t + 1)));
        var cached = torch.cat(parts, 1);

        Assert.True(cached[0].allclose(full[0], rtol: 0, atol: 1e-4));
        Assert.True(cached[1, TensorIndex.Slice(3)].allclose(full[1, TensorIndex.Slice(3)], rtol: 0, atol: 1e-4));
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_CacheOff_SameTokensAsCached(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        var cached = gen.Generate(Prompts, Greedy());
        var uncached = gen.Generate(Prompts, Greedy() with { UseCache = false });
        Assert.Equal(cached.Select(r => r.TokenIds), uncached.Select(r => r.TokenIds));
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_BatchOfDifferentLengths_EqualsEachAlone(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        var batched = gen.Generate(Prompts, Greedy());
        for (int i = 0; i < Prompts.Length; i++)
            Assert.Equal(gen.Generate([Prompts[i]], Greedy())[0].TokenIds, batched[i].TokenIds);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_TopK1Sampling_EqualsGreedy(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        var greedy = gen.Generate(Prompts, Greedy());
        foreach (long seed in new long[] { 1, 2, 3 })
        {
            var topK1 = gen.Generate(Prompts, Greedy() with { DoSample = true, TopK = 1, Temperature = 1.5, Seed = seed });
            Assert.Equal(greedy.Select(r => r.TokenIds), topK1.Select(r => r.TokenIds));
        }
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_SameSeed_SameText(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        var a = gen.Generate(Prompts, Sampling(42));
        var b = gen.Generate(Prompts, Sampling(42));
        var c = gen.Generate(Prompts, Sampling(43));
        Assert.Equal(a.Select(r => r.Text), b.Select(r => r.Text));
        Assert.NotEqual(a.Select(r => r.TokenIds), c.Select(r => r.TokenIds));
    }

    [Theory]
    [InlineData(TestModels.Gpt2, 1), InlineData(TestModels.Gpt2, 2), InlineData(TestModels.Gpt2, 3)]
    [InlineData(TestModels.DeepSeek, 1), InlineData(TestModels.DeepSeek, 2), InlineData(TestModels.DeepSeek, 3)]
    public void Generate_NoRepeatNgram_NoNgramRepeats(string family, int n)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        foreach (var options in new[] { Greedy(40), Sampling(5, 40) with { Temperature = 0.5 } })
        {
            var results = gen.Generate(Prompts, options with { NoRepeatNgramSize = n });
            foreach (var r in results)
            {
                var row = Bytes.Encode(Prompts[r.PromptIndex]).Concat(r.TokenIds).ToList();
                var grams = Enumerable.Range(0, row.Count - n + 1).Select(i => string.Join(",", row.Skip(i).Take(n))).ToList();
                var generatedGrams = grams.Skip(Math.Max(0, Bytes.Encode(Prompts[r.PromptIndex]).Count - n + 1)).ToList();
                foreach (var g in generatedGrams) Assert.Equal(1, grams.Count(x => x == g));
            }
        }
    }

    [Fact]
    public void Generate_NoRepeatBigramOnCyclingModel_BreaksCycle()
    {
        // Greedy cycles 0 1 2 0 1 2 …; with no_repeat_ngram_size 2 no bigram may recur.
        var gen = new Generator(BigramCausalLM.FromProbabilities(4,
            (0, 1, .7), (0, 2, .3), (1, 2, .7), (1, 3, .3), (2, 0, .7), (2, 3, .3), (3, 0, .5), (3, 1, .5)), Bytes);
        var free = gen.Generate(new[] { new[] { 0 } }, Greedy(8))[0];
        Assert.Equal(new[] { 1, 2, 0, 1, 2, 0, 1, 2 }, free.TokenIds);
        var banned = gen.Generate(new[] { new[] { 0 } }, Greedy(8) with { NoRepeatNgramSize = 2 })[0];
        var row = new[] { 0 }.Concat(banned.TokenIds).ToList();
        var grams = row.Zip(row.Skip(1)).ToList();
        Assert.Equal(grams.Count, grams.Distinct().Count());
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_StopStrings_NeverInTextAndCutThere(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        foreach (long seed in new long[] { 1, 2, 3, 4 })
        {
            var free = gen.Generate(Prompts, Sampling(seed, 24));
            string stop = free[0].Text.Substring(free[0].Text.Length / 2, 2);             // spans byte tokens
            var cut = gen.Generate(Prompts, Sampling(seed, 24) with { StopStrings = [stop, "\u0001\u0002"] });
            for (int i = 0; i < Prompts.Length; i++)
            {
                Assert.DoesNotContain(stop, cut[i].Text);
                int at = free[i].Text.IndexOf(stop, StringComparison.Ordinal);
                Assert.Equal(at < 0 ? free[i].Text : free[i].Text[..at], cut[i].Text);
                Assert.Equal(at < 0 ? FinishReason.Length : FinishReason.StopString, cut[i].FinishReason);
            }
        }
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_EosToken_StopsRowBeforeIt(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        var free = gen.Generate(["Hello"], Greedy(20))[0];
        int eos = free.TokenIds[2];
        int first = free.TokenIds.ToList().IndexOf(eos);
        var stopped = gen.Generate(["Hello"], Greedy(20) with { EosTokenId = [eos] })[0];
        Assert.Equal(free.TokenIds.Take(first), stopped.TokenIds);
        Assert.Equal(FinishReason.EndOfSequence, stopped.FinishReason);
        Assert.Equal(FinishReason.Length, free.FinishReason);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_EosInOneRow_OtherRowsContinueUnchanged(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        var free = gen.Generate(Prompts, Greedy(16));
        int eos = free[0].TokenIds[1];
        var stopped = gen.Generate(Prompts, Greedy(16) with { EosTokenId = [eos] });
        for (int i = 0; i < Prompts.Length; i++)
        {
            int at = free[i].TokenIds.ToList().IndexOf(eos);
            Assert.Equal(at < 0 ? free[i].TokenIds : free[i].TokenIds.Take(at), stopped[i].TokenIds);
        }
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_NumReturnSequences_GroupedByPromptAndDistinct(string family)
    {
        var results = new Generator(TestModels.Create(family), Bytes).Generate(Prompts, Sampling(9) with { NumReturnSequences = 3 });
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 1, 2, 2, 2 }, results.Select(r => r.PromptIndex));
        Assert.True(results.Take(3).Select(r => r.Text).Distinct().Count() > 1);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_MaxNewTokens_ExactlyThatMany(string family)
    {
        var results = new Generator(TestModels.Create(family), Bytes).Generate(Prompts, Greedy(7));
        Assert.All(results, r => Assert.Equal(7, r.TokenIds.Count));
        Assert.All(results, r => Assert.Equal(Bytes.Decode(r.TokenIds), r.Text));
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_PromptLongerThanContext_Throws(string family)
    {
        var gen = new Generator(TestModels.Create(family, positions: 16), Bytes);
        var e = Assert.Throws<GenerationException>(() => gen.Generate(["0123456789abcdef"], Greedy(4)));
        Assert.Contains("context", e.Message);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_PromptTooLongWithTruncation_KeepsLastTokens(string family)
    {
        var gen = new Generator(TestModels.Create(family, positions: 16), Bytes);
        var truncated = gen.Generate(["0123456789abcdef"], Greedy(4) with { TruncatePrompt = true })[0];
        var tail = gen.Generate(["456789abcdef"], Greedy(4))[0];
        Assert.Equal(tail.TokenIds, truncated.TokenIds);
    }

    [Theory]
    [InlineData(-0.5, 0, 1.0, "temperature")]
    [InlineData(1.0, -1, 1.0, "top_k")]
    [InlineData(1.0, 0, 0.0, "top_p")]
    [InlineData(1.0, 0, 1.5, "top_p")]
    public void Generate_InvalidSamplingValue_ThrowsNamingIt(double temperature, int topK, double topP, string name)
    {
        var gen = new Generator(TestModels.Create(TestModels.Gpt2), Bytes);
        var options = new GenerationOptions { DoSample = true, Temperature = temperature, TopK = topK, TopP = topP };
        var e = Assert.Throws<GenerationException>(() => gen.Generate(["a"], options));
        Assert.StartsWith(name, e.Message);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_TokenIdOutsideVocabulary_Throws(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        Assert.Throws<GenerationException>(() => gen.Generate(new[] { new[] { 1, 300 } }, Greedy()));
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void Generate_TrainingModel_RestoredToTraining(string family)
    {
        var model = (TorchSharp.torch.nn.Module)TestModels.Create(family);
        model.train();
        new Generator((CausalLM)model, Bytes).Generate(["a"], Greedy(3));
        Assert.True(model.training);
    }
}
