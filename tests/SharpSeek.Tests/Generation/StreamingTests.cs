using SharpSeek.Generation;

namespace SharpSeek.Tests.Generation;

public class StreamingTests
{
    private static readonly ByteTokenizer Bytes = new(eosId: 0x0A);

    /// <summary>Bigram chain a → é € 😀 ! → newline (EOS): every multi-byte character spans several tokens.</summary>
    private static Generator ChainGenerator()
    {
        int[] chain = [0x61, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0x21, 0x0A];
        var entries = chain.Zip(chain.Skip(1)).Select(p => (p.First, p.Second, 1.0)).ToArray();
        return new Generator(BigramCausalLM.FromProbabilities(256, entries), Bytes);
    }

    private static async Task<List<string>> Collect(IAsyncEnumerable<string> stream)
    {
        var deltas = new List<string>();
        await foreach (string d in stream) deltas.Add(d);
        return deltas;
    }

    [Fact]
    public async Task StreamAsync_MultiByteCharacters_NeverSplit()
    {
        var deltas = await Collect(ChainGenerator().StreamAsync("a", new GenerationOptions { MaxNewTokens = 20 }));
        Assert.Equal(new[] { "é", "€", "😀", "!" }, deltas);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public async Task StreamAsync_ConcatenatedDeltas_EqualGenerateText(string family)
    {
        var gen = new Generator(TestModels.Create(family), new ByteTokenizer());
        var options = new GenerationOptions { MaxNewTokens = 30, DoSample = true, Seed = 11, EosTokenId = [] };
        var deltas = await Collect(gen.StreamAsync("Hello", options));
        Assert.Equal(gen.Generate(["Hello"], options)[0].Text, string.Concat(deltas));
        Assert.All(deltas.SkipLast(1), d => Assert.False(char.IsHighSurrogate(d[^1])));
    }

    [Fact]
    public async Task StreamAsync_StopString_NeverLeaksIntoStream()
    {
        var deltas = await Collect(ChainGenerator().StreamAsync("a", new GenerationOptions { MaxNewTokens = 20, StopStrings = ["€😀"] }));
        Assert.Equal(new[] { "é" }, deltas);
    }

    [Fact]
    public async Task StreamAsync_StopStringFalseStart_ReleasedLater()
    {
        var deltas = await Collect(ChainGenerator().StreamAsync("a", new GenerationOptions { MaxNewTokens = 20, StopStrings = ["€X"] }));
        Assert.Equal("é€😀!", string.Concat(deltas));
        Assert.Equal(new[] { "é", "€😀", "!" }, deltas);
    }

    [Theory, InlineData(TestModels.Gpt2), InlineData(TestModels.DeepSeek)]
    public async Task StreamAsync_Cancelled_StopsWithOperationCanceled(string family)
    {
        var gen = new Generator(TestModels.Create(family), new ByteTokenizer());
        using var cts = new CancellationTokenSource();
        var options = new GenerationOptions { MaxNewTokens = 50, EosTokenId = [] };
        int received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (string _ in gen.StreamAsync("Hello", options, cts.Token))
            {
                received++;
                cts.Cancel();
            }
        });
        Assert.Equal(1, received);
    }

    [Fact]
    public void Generate_ChainWithStopString_TextCutFinishStop()
    {
        var r = ChainGenerator().Generate(["a"], new GenerationOptions { MaxNewTokens = 20, StopStrings = ["😀"] })[0];
        Assert.Equal("é€", r.Text);
        Assert.Equal(FinishReason.StopString, r.FinishReason);
    }

    [Fact]
    public void Generate_ChainWithTokenizerEos_StopsAtEos()
    {
        var r = ChainGenerator().Generate(["a"], new GenerationOptions { MaxNewTokens = 20 })[0];
        Assert.Equal("é€😀!", r.Text);
        Assert.Equal(FinishReason.EndOfSequence, r.FinishReason);
        Assert.Equal(10, r.TokenIds.Count);
    }
}
