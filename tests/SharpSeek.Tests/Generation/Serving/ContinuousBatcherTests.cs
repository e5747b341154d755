using SharpSeek.Generation;
using SharpSeek.Generation.Serving;
using SharpSeek.Models.Common;
using TorchSharp;

namespace SharpSeek.Tests.Generation.Serving;

/// <summary>A model whose every forward waits for a permit, so a test decides when each prefill or decode step runs.</summary>
internal sealed class GatedCausalLM : WrappedCausalLM
{
    private readonly SemaphoreSlim _gate = new(0);

    public GatedCausalLM(CausalLM inner) : base(nameof(GatedCausalLM), inner)
    {
        register_module("inner", inner);
        AdoptInnerState();
    }

    /// <summary>Lets <paramref name="forwards"/> more forwards run.</summary>
    public void Release(int forwards = 1) => _gate.Release(forwards);

    public override CausalLMOutput forward(CausalLMInput input)
    {
        if (!_gate.Wait(TimeSpan.FromSeconds(30))) throw new TimeoutException("the test released no forward for 30 s");
        return base.forward(input);
    }

    public override void SavePretrained(string directory) => throw new NotSupportedException();
}

public class ContinuousBatcherTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static IReadOnlyList<int> Solo(CausalLM model, string prompt, int maxNew) =>
        new Generator(model, new ByteTokenizer()).Generate([prompt], new GenerationOptions { MaxNewTokens = maxNew, EosTokenId = [] })[0].TokenIds;

    private static IReadOnlyList<int> Ids(string text) => new ByteTokenizer().Encode(text);

    /// <summary>Releases forwards one at a time until <paramref name="done"/> holds.</summary>
    private static void StepUntil(GatedCausalLM gated, Func<bool> done)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, "the batcher made no progress");
            gated.Release();
            Thread.Sleep(2);
        }
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public async Task Submit_JoinAndLeaveMidBatch_SameTokensAsSoloGreedyRuns(string family)
    {
        var model = TestModels.Create(family);
        var gated = new GatedCausalLM(model);
        using var batcher = new ContinuousBatcher(gated, new ByteTokenizer(), new ContinuousBatcherOptions { MaxBatchSize = 4 });
        const string a = "The quick brown fox jumps over", b = "ab", c = "Hello";

        var first = batcher.Submit(new SequenceRequest(Ids(a)) { MaxNewTokens = 12, Temperature = 0 });
        StepUntil(gated, () => batcher.Steps >= 3);                     // a is 3 tokens in
        var second = batcher.Submit(new SequenceRequest(Ids(b)) { MaxNewTokens = 30, Temperature = 0 });   // joins a's batch
        StepUntil(gated, () => first.Completion.IsCompleted);           // a (the longest row) leaves, b goes on
        Assert.False(second.Completion.IsCompleted);
        var third = batcher.Submit(new SequenceRequest(Ids(c)) { MaxNewTokens = 10, Temperature = 0 });    // joins b's batch
        gated.Release(10_000);
        var results = await Task.WhenAll(first.Completion, second.Completion, third.Completion).WaitAsync(Timeout);

        Assert.Equal(Solo(model, a, 12), results[0].TokenIds);
        Assert.Equal(Solo(model, b, 30), results[1].TokenIds);
        Assert.Equal(Solo(model, c, 10), results[2].TokenIds);
        Assert.Equal(2, batcher.PeakBatchSize);
        Assert.Equal(3, batcher.Prefills);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public async Task Submit_ManyConcurrentGreedy_EachMatchesSoloRun(string family)
    {
        var model = TestModels.Create(family);
        using var batcher = new ContinuousBatcher(model, new ByteTokenizer(), new ContinuousBatcherOptions { MaxBatchSize = 3 });
        string[] prompts = ["a", "Hello", "The quick brown fox", "xyz", "Once upon a time", "12"];
        var sequences = prompts.Select((p, i) => batcher.Submit(new SequenceRequest(Ids(p)) { MaxNewTokens = 5 + 4 * i, Temperature = 0 })).ToArray();
        var results = await Task.WhenAll(sequences.Select(s => s.Completion)).WaitAsync(Timeout);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(Solo(model, prompts[i], 5 + 4 * i), results[i].TokenIds);
        Assert.Equal(3, batcher.PeakBatchSize);
    }

    [Fact]
    public async Task Submit_SameSeedAloneAndInABatch_SameTokens()
    {
        var model = TestModels.Create(TestModels.Gpt2);
        using var batcher = new ContinuousBatcher(model, new ByteTokenizer());
        var request = new SequenceRequest(Ids("Hello")) { MaxNewTokens = 30, Temperature = 0.9, TopP = 0.95, Seed = 5 };
        var alone = await batcher.Submit(request).Completion.WaitAsync(Timeout);

        var together = new[]
        {
            batcher.Submit(new SequenceRequest(Ids("Other prompt")) { MaxNewTokens = 20, Temperature = 1.0, Seed = 9 }),
            batcher.Submit(request),
            batcher.Submit(new SequenceRequest(Ids("xy")) { MaxNewTokens = 25, Temperature = 0 }),
            batcher.Submit(request with { Seed = 6 }),
        };
        var results = await Task.WhenAll(together.Select(s => s.Completion)).WaitAsync(Timeout);
        Assert.Equal(alone.TokenIds, results[1].TokenIds);
        Assert.NotEqual(alone.TokenIds, results[3].TokenIds);
    }

    [Fact]
    public async Task Submit_SeededSampling_MatchesGeneratorWithSameSeed()
    {
        var model = TestModels.Create(TestModels.DeepSeek);
        using var batcher = new ContinuousBatcher(model, new ByteTokenizer());
        var result = await batcher.Submit(new SequenceRequest(Ids("Hello")) { MaxNewTokens = 25, Temperature = 1.0, Seed = 3 }).Completion.WaitAsync(Timeout);
        var expected = new Generator(model, new ByteTokenizer())
            .Generate(["Hello"], new GenerationOptions { MaxNewTokens = 25, DoSample = true, TopK = 0, Seed = 3, EosTokenId = [] })[0];
        Assert.Equal(expected.TokenIds, result.TokenIds);
    }

    [Fact]
    public async Task Cancel_RunningSequence_FreesItsSlotForTheNextRequest()
    {
        var model = TestModels.Create(TestModels.Gpt2);
        var gated = new GatedCausalLM(model);
        using var batcher = new ContinuousBatcher(gated, new ByteTokenizer(), new ContinuousBatcherOptions { MaxBatchSize = 1 });
        using var cts = new CancellationTokenSource();
        var running = batcher.Submit(new SequenceRequest(Ids("Hello")) { MaxNewTokens = 50 }, cts.Token);
        var waiting = batcher.Submit(new SequenceRequest(Ids("ab")) { MaxNewTokens = 8, Temperature = 0 });
        StepUntil(gated, () => batcher.Steps >= 2);
        Assert.Equal(1, batcher.PendingCount);

        cts.Cancel();
        gated.Release(10_000);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running.Completion.WaitAsync(Timeout));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => { await foreach (var _ in running.Deltas.ReadAllAsync()) { } });
        var next = await waiting.Completion.WaitAsync(Timeout);
        Assert.Equal(Solo(model, "ab", 8), next.TokenIds);
        Assert.Equal(0, batcher.ActiveCount);
    }

    [Fact]
    public async Task Deltas_StopString_CutAndFinishReasonStop()
    {
        var model = TestModels.Create(TestModels.Gpt2);
        using var batcher = new ContinuousBatcher(model, new ByteTokenizer());
        string full = new ByteTokenizer().Decode(Solo(model, "Hello", 12));
        string stop = full.Substring(4, 2);
        int cut = full.IndexOf(stop, StringComparison.Ordinal);
        var sequence = batcher.Submit(new SequenceRequest(Ids("Hello")) { MaxNewTokens = 12, Temperature = 0, StopStrings = [stop] });
        var streamed = new List<string>();
        await foreach (var d in sequence.Deltas.ReadAllAsync()) streamed.Add(d.Text);
        var result = await sequence.Completion;
        Assert.Equal(full[..cut], result.Text);
        Assert.Equal(result.Text, string.Concat(streamed));
        Assert.Equal(FinishReason.StopString, result.FinishReason);
    }

    [Fact]
    public async Task Logprobs_Greedy_ChosenTokenIsTheTopOne()
    {
        var model = TestModels.Create(TestModels.Gpt2);
        using var batcher = new ContinuousBatcher(model, new ByteTokenizer());
        var result = await batcher.Submit(new SequenceRequest(Ids("Hi")) { MaxNewTokens = 6, Temperature = 0, TopLogprobs = 3 }).Completion.WaitAsync(Timeout);
        Assert.Equal(6, result.Logprobs.Count);
        foreach (var d in result.Logprobs)
        {
            Assert.Equal(3, d.TopLogprobs!.Count);
            Assert.Equal(d.Token!.TokenId, d.TopLogprobs[0].TokenId);
            Assert.Equal(d.Token.Logprob, d.TopLogprobs[0].Logprob, 6);
            Assert.True(d.TopLogprobs[0].Logprob >= d.TopLogprobs[1].Logprob && d.Token.Logprob < 0);
        }
    }

    [Fact]
    public void Submit_PromptPlusMaxTokensBeyondContext_Throws()
    {
        using var batcher = new ContinuousBatcher(TestModels.Create(TestModels.Gpt2, positions: 16), new ByteTokenizer());
        var e = Assert.Throws<GenerationException>(() => batcher.Submit(new SequenceRequest(Ids("Hello")) { MaxNewTokens = 12 }));
        Assert.Contains("exceeds the context (16 tokens)", e.Message);
    }

    [Fact]
    public void RepetitionPenalties_Apply_MatchesHandComputedValues()
    {
        using var logits = torch.tensor(new float[] { 1, 2, 3, 4 });
        using var result = RepetitionPenalties.Apply(logits, [1, 1, 3], presence: 0.5, frequency: 0.25);
        // counts [0, 2, 0, 1]: token 1 loses 2·0.25 + 0.5 = 1.0, token 3 loses 0.25 + 0.5 = 0.75
        Assert.Equal(new float[] { 1, 1, 3, 3.25f }, result.data<float>().ToArray());
    }
}
