using SharpSeek.Models.Common;
using SharpSeek.Generation;

namespace SharpSeek.Tests.Generation;

public class BeamSearchTests
{
    private static readonly ByteTokenizer Bytes = new();

    // Tokens: 0 start, 1 A, 2 B, 3 C, 4 EOS.
    private static Generator Greedy_vs_Beam() => new(BigramCausalLM.FromProbabilities(5,
        (0, 1, 0.6), (0, 2, 0.4),
        (1, 1, 0.34), (1, 2, 0.33), (1, 3, 0.33),
        (2, 3, 0.9), (2, 1, 0.1),
        (3, 3, 1.0)), Bytes);

    private static Generator WithEos() => new(BigramCausalLM.FromProbabilities(5,
        (0, 4, 0.4), (0, 1, 0.6),
        (1, 4, 0.5), (1, 2, 0.3), (1, 3, 0.2),
        (2, 4, 1.0), (3, 4, 1.0)), Bytes);

    [Fact]
    public void BeamSearch_TwoBeams_FindsSequenceGreedyMisses()
    {
        var gen = Greedy_vs_Beam();
        var options = new GenerationOptions { MaxNewTokens = 2, EosTokenId = [] };
        Assert.Equal(new[] { 1, 1 }, gen.Generate(new[] { new[] { 0 } }, options)[0].TokenIds);   // 0.6 × 0.34 = 0.204
        var beams = gen.Generate(new[] { new[] { 0 } }, options with { NumBeams = 2, NumReturnSequences = 2 });
        Assert.Equal(new[] { 2, 3 }, beams[0].TokenIds);                                           // 0.4 × 0.9 = 0.36
        Assert.Equal(Math.Log(0.36) / 2, beams[0].Score!.Value, 4);
        Assert.Equal(new[] { 1, 1 }, beams[1].TokenIds);
        Assert.Equal(Math.Log(0.204) / 2, beams[1].Score!.Value, 4);
    }

    [Fact]
    public void BeamSearch_EarlyStopping_StopsAtFirstNumBeamsHypotheses()
    {
        // After step 2 the hypotheses are [] (ln 0.4 / 1) and [A] (ln 0.3 / 2 = −0.602): early stopping returns [A].
        var options = new GenerationOptions { MaxNewTokens = 3, NumBeams = 2, EosTokenId = [4], EarlyStopping = true };
        var r = WithEos().Generate(new[] { new[] { 0 } }, options)[0];
        Assert.Equal(new[] { 1 }, r.TokenIds);
        Assert.Equal(Math.Log(0.3) / 2, r.Score!.Value, 4);
        Assert.Equal(FinishReason.EndOfSequence, r.FinishReason);
    }

    [Fact]
    public void BeamSearch_NoEarlyStopping_KeepsSearchingForBetterNormalisedScore()
    {
        // [A B] + EOS: ln 0.18 / 3 = −0.572 beats [A] (−0.602).
        var options = new GenerationOptions { MaxNewTokens = 3, NumBeams = 2, EosTokenId = [4] };
        var r = WithEos().Generate(new[] { new[] { 0 } }, options)[0];
        Assert.Equal(new[] { 1, 2 }, r.TokenIds);
        Assert.Equal(Math.Log(0.18) / 3, r.Score!.Value, 4);
    }

    [Fact]
    public void BeamSearch_LengthPenaltyZero_PrefersShortest()
    {
        // Raw sum log-probs: [] ln 0.4 = −0.916 beats [A] ln 0.3 = −1.204.
        var options = new GenerationOptions { MaxNewTokens = 3, NumBeams = 2, EosTokenId = [4], LengthPenalty = 0 };
        var r = WithEos().Generate(new[] { new[] { 0 } }, options)[0];
        Assert.Empty(r.TokenIds);
        Assert.Equal(Math.Log(0.4), r.Score!.Value, 4);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void BeamSearch_BatchOfPrompts_EachAsAlone(string family)
    {
        var gen = new Generator(TestModels.Create(family), Bytes);
        var options = new GenerationOptions { MaxNewTokens = 8, NumBeams = 3, EosTokenId = [], NoRepeatNgramSize = 2 };
        string[] prompts = ["Hello", "a", "The quick"];
        var batched = gen.Generate(prompts, options);
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(gen.Generate([prompts[i]], options)[0].TokenIds, batched[i].TokenIds);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public void BeamSearch_ScoreAtLeastGreedy(string family)
    {
        var model = TestModels.Create(family);
        var gen = new Generator(model, Bytes);
        var options = new GenerationOptions { MaxNewTokens = 6, EosTokenId = [] };
        var greedy = gen.Generate(["Hello"], options)[0];
        var beam = gen.Generate(["Hello"], options with { NumBeams = 4 })[0];
        Assert.True(beam.Score >= SumLogProb(model, "Hello", greedy.TokenIds) / 6 - 1e-5);
    }

    private static double SumLogProb(CausalLM model, string prompt, IReadOnlyList<int> generated)
    {
        var ids = Bytes.Encode(prompt).Concat(generated).Select(i => (long)i).ToArray();
        using var _ = TorchSharp.torch.no_grad();
        var logp = model.Logits(TorchSharp.torch.tensor(ids).view(1, -1)).log_softmax(-1);
        double sum = 0;
        int p = Bytes.Encode(prompt).Count;
        for (int t = p; t < ids.Length; t++) sum += logp[0, t - 1, ids[t]].item<float>();
        return sum;
    }
}
