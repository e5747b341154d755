using SharpSeek.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Generation;

public class LogitsProcessorTests
{
    private static readonly float Inf = float.NegativeInfinity;

    private static Tensor Row(params float[] values) => torch.tensor(values).view(1, -1);
    private static Tensor Ids(params long[] ids) => torch.tensor(ids).view(1, -1);
    private static float[] Values(Tensor t) => t.data<float>().ToArray();
    private static Tensor LogOf(params double[] probs) => Row(probs.Select(p => (float)Math.Log(p)).ToArray());

    [Fact]
    public void Temperature_Two_HalvesLogits()
    {
        var result = new TemperatureProcessor(2.0).Process(Ids(0), Row(1f, 2f, -4f));
        Assert.Equal(new[] { 0.5f, 1f, -2f }, Values(result));
    }

    [Fact]
    public void TopK_Two_KeepsTwoLargest()
    {
        var result = new TopKProcessor(2).Process(Ids(0), Row(1f, 3f, 2f, 0f));
        Assert.Equal(new[] { Inf, 3f, 2f, Inf }, Values(result));
    }

    [Fact]
    public void TopK_TieWithKth_KeepsTies()
    {
        var result = new TopKProcessor(1).Process(Ids(0), Row(1f, 2f, 2f, 0f));
        Assert.Equal(new[] { Inf, 2f, 2f, Inf }, Values(result));
    }

    [Fact]
    public void TopK_LargerThanVocab_KeepsAll()
    {
        var result = new TopKProcessor(10).Process(Ids(0), Row(1f, 2f, 0f));
        Assert.Equal(new[] { 1f, 2f, 0f }, Values(result));
    }

    [Fact]
    public void TopP_075_KeepsSmallestSetReachingP()
    {
        // probs 0.5, 0.3, 0.15, 0.05: {0.5} = 0.5 < 0.75, {0.5, 0.3} = 0.8 ≥ 0.75.
        var logits = LogOf(0.5, 0.3, 0.15, 0.05);
        var result = Values(new TopPProcessor(0.75).Process(Ids(0), logits));
        Assert.True(float.IsFinite(result[0]) && float.IsFinite(result[1]));
        Assert.Equal(new[] { Inf, Inf }, result[2..]);
    }

    [Fact]
    public void TopP_04_KeepsOnlyTop()
    {
        var result = Values(new TopPProcessor(0.4).Process(Ids(0), LogOf(0.3, 0.5, 0.15, 0.05)));
        Assert.Equal(new[] { false, true, false, false }, result.Select(float.IsFinite).ToArray());
    }

    [Fact]
    public void TopP_TinyPOnUniform_KeepsExactlyOne()
    {
        var result = Values(new TopPProcessor(0.1).Process(Ids(0), Row(0f, 0f, 0f, 0f)));
        Assert.Equal(1, result.Count(float.IsFinite));
    }

    [Fact]
    public void TopP_AfterTopK_SameAsOnFullVocabulary()
    {
        torch.manual_seed(5);
        var logits = torch.randn(3, 400) * 3;
        var afterTopK = new TopKProcessor(20).Process(Ids(0), logits);        // 20 finite of 400: partial-sort path
        var expected = Values(new TopPProcessor(0.8).Process(Ids(0), afterTopK.masked_fill(afterTopK.isinf(), -1e4)));
        var actual = Values(new TopPProcessor(0.8).Process(Ids(0), afterTopK));
        Assert.Equal(expected.Select(v => v > -1e3), actual.Select(float.IsFinite));
        Assert.True(actual.Count(float.IsFinite) is > 3 and < 60);
    }

    [Fact]
    public void MinP_04_DropsBelowFractionOfTop()
    {
        // threshold 0.4 × 0.5 = 0.2: 0.15 and 0.05 go.
        var result = Values(new MinPProcessor(0.4).Process(Ids(0), LogOf(0.5, 0.3, 0.15, 0.05)));
        Assert.Equal(new[] { true, true, false, false }, result.Select(float.IsFinite).ToArray());
    }

    [Fact]
    public void RepetitionPenalty_Two_DividesPositiveMultipliesNegativeSeen()
    {
        var logits = Row(2f, -1f, 3f, 0.5f);
        var result = new RepetitionPenaltyProcessor(2.0).Process(Ids(0, 1, 1), logits);
        Assert.Equal(new[] { 1f, -2f, 3f, 0.5f }, Values(result));
        Assert.Equal(new[] { 2f, -1f, 3f, 0.5f }, Values(logits));     // input untouched
    }

    [Fact]
    public void NoRepeatNGram_Bigram_BansTokenThatFollowedLastToken()
    {
        // ids 1 2 3 1: bigram (1, 2) exists and the row ends in 1, so 2 is banned.
        var result = new NoRepeatNGramProcessor(2).Process(Ids(1, 2, 3, 1), Row(0f, 0f, 0f, 0f, 0f));
        Assert.Equal(new[] { 0f, 0f, Inf, 0f, 0f }, Values(result));
    }

    [Fact]
    public void NoRepeatNGram_Trigram_BansCompletionOfSeenTrigram()
    {
        // ids 1 2 1 2: trigram (1, 2, 1) exists and the row ends in (1, 2), so 1 is banned.
        var result = new NoRepeatNGramProcessor(3).Process(Ids(1, 2, 1, 2), Row(0f, 0f, 0f, 0f));
        Assert.Equal(new[] { 0f, Inf, 0f, 0f }, Values(result));
    }

    [Fact]
    public void NoRepeatNGram_RowShorterThanN_BansNothing()
    {
        var result = new NoRepeatNGramProcessor(3).Process(Ids(1, 1), Row(0f, 0f, 0f));
        Assert.Equal(new[] { 0f, 0f, 0f }, Values(result));
    }

    [Fact]
    public void NoRepeatNGram_LeftPadding_IgnoresPaddedColumns()
    {
        // Row 1 1 2 1 with one pad column: real tokens 1 2 1 → only 2 banned (with the pad, (1, 1) would ban 1 too).
        var result = new NoRepeatNGramProcessor(2, rowStarts: [1]).Process(Ids(1, 1, 2, 1), Row(0f, 0f, 0f));
        Assert.Equal(new[] { 0f, 0f, Inf }, Values(result));
    }

    [Fact]
    public void NoRepeatNGram_IncrementalCalls_MatchFreshProcessor()
    {
        var ids = torch.tensor(new long[] { 1, 2, 3, 1, 2, 0, 3, 1, 0, 2, 3, 1 }).view(2, 6);
        var logits = torch.zeros(2, 4);
        var incremental = new NoRepeatNGramProcessor(2);
        for (int t = 2; t <= 6; t++)
        {
            var step = Values(incremental.Process(ids.narrow(1, 0, t), logits));
            var fresh = Values(new NoRepeatNGramProcessor(2).Process(ids.narrow(1, 0, t), logits));
            Assert.Equal(fresh, step);
        }
    }

    [Fact]
    public void NoRepeatNGram_ReorderRows_FollowsRows()
    {
        var ids = torch.tensor(new long[] { 1, 2, 1, 3, 0, 3 }).view(2, 3);
        var p = new NoRepeatNGramProcessor(2);
        p.Process(ids, torch.zeros(2, 4));
        p.ReorderRows([1, 1]);
        var swapped = torch.tensor(new long[] { 3, 0, 3, 3, 0, 3 }).view(2, 3);
        var result = Values(p.Process(swapped, torch.zeros(2, 4)));   // both rows: 3 0 3 → 0 banned
        Assert.Equal(new[] { Inf, 0f, 0f, 0f, Inf, 0f, 0f, 0f }, result);
    }

    [Fact]
    public void Pipeline_GreedyDefaults_IsEmpty()
    {
        Assert.True(LogitsProcessorPipeline.For(new GenerationOptions()).IsEmpty);
    }

    [Fact]
    public void Pipeline_SamplingAllOn_HuggingFaceOrder()
    {
        var options = new GenerationOptions
        {
            DoSample = true, Temperature = 0.7, TopK = 5, TopP = 0.9, MinP = 0.1, RepetitionPenalty = 1.2, NoRepeatNgramSize = 3,
        };
        var types = LogitsProcessorPipeline.For(options).Processors.Select(p => p.GetType()).ToArray();
        Assert.Equal(new[]
        {
            typeof(RepetitionPenaltyProcessor), typeof(NoRepeatNGramProcessor), typeof(TemperatureProcessor),
            typeof(TopKProcessor), typeof(TopPProcessor), typeof(MinPProcessor),
        }, types);
    }

    [Fact]
    public void Pipeline_TwoProcessors_AppliesInOrder()
    {
        var pipeline = new LogitsProcessorPipeline([new TemperatureProcessor(0.5), new TopKProcessor(1)]);
        Assert.Equal(new[] { Inf, 4f, Inf }, Values(pipeline.Process(Ids(0), Row(1f, 2f, -1f))));
    }

    [Fact]
    public void PresenceFrequencyPenalty_GeneratedTokens_SubtractsCountsPromptIgnored()
    {
        // Prompt 3 (first call), then generated 1 1 2: counts (0, 2, 1, 0) → −(0.5 × count + 1 × seen): 0, −2, −1.5, 0; token 3 of the prompt untouched.
        var p = new PresenceFrequencyPenaltyProcessor(presence: 1.0, frequency: 0.5);
        Assert.Equal(new[] { 1f, 1f, 1f, 1f }, Values(p.Process(Ids(3), Row(1f, 1f, 1f, 1f))));
        Assert.Equal(new[] { 1f, -1f, -0.5f, 1f }, Values(p.Process(Ids(3, 1, 1, 2), Row(1f, 1f, 1f, 1f))));
    }

    [Fact]
    public void Pipeline_PresencePenalty_AfterRepetitionPenalty()
    {
        var options = new GenerationOptions { RepetitionPenalty = 1.2, PresencePenalty = 0.5, NoRepeatNgramSize = 2 };
        var types = LogitsProcessorPipeline.For(options).Processors.Select(p => p.GetType()).ToArray();
        Assert.Equal(new[] { typeof(RepetitionPenaltyProcessor), typeof(PresenceFrequencyPenaltyProcessor), typeof(NoRepeatNGramProcessor) }, types);
    }
}
