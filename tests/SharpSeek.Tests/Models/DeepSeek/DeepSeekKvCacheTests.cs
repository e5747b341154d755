using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.DeepSeek;

public sealed class DeepSeekKvCacheTests
{
    private readonly ITestOutputHelper _out;
    public DeepSeekKvCacheTests(ITestOutputHelper output) { _out = output; }

    [Fact]
    public void BytesPerToken_FixtureConfig_SmallerThanGpt2OfSameWidth()
    {
        var c = DeepSeekV3Config.Load(Path.Combine(DeepSeekFixtures.CaseDir(DeepSeekFixtures.CaseNames[0]), "config.json"));
        using var model = new DeepSeekV3ForCausalLM(c);
        using var cache = (MlaKvCache)model.CreateKvCache(2, 16);
        long gpt2 = 2L * c.NumHiddenLayers * c.HiddenSize * 4;                              // K and V, n_embd each, fp32
        long naive = (long)c.NumHiddenLayers * c.NumAttentionHeads * (c.QkHeadDim + c.VHeadDim) * 4;   // per-head k and v
        _out.WriteLine($"MLA latent cache: {cache.BytesPerToken} B/token; naive per-head k,v: {naive} B/token; GPT-2 MHA same width: {gpt2} B/token");
        Assert.Equal(c.NumHiddenLayers * (c.KvLoraRank + c.QkRopeHeadDim) * 4L, cache.BytesPerToken);
        Assert.Equal(cache.BytesPerToken * 2 * 16, cache.AllocatedBytes);
        Assert.True(cache.BytesPerToken < gpt2);
    }

    [Fact]
    public void Forward_LeftPaddedRow_SameGreedyTokensAsAlone()
    {
        using var model = DeepSeekV3ForCausalLM.FromPretrained(DeepSeekFixtures.CaseDir("dsv3_qlora32_e8_top2"));
        model.AttentionImpl = AttentionImpl.Absorbed;
        long[] a = Enumerable.Range(0, 12).Select(i => (long)(i * 37 % 512)).ToArray();
        long[] b = Enumerable.Range(0, 7).Select(i => (long)(i * 91 % 512 + 3)).ToArray();
        var batched = DeepSeekGreedy.CachedBatch(model, [a, b], 8);
        Assert.Equal(DeepSeekGreedy.Uncached(model, a, 8), batched[0]);
        Assert.Equal(DeepSeekGreedy.Uncached(model, b, 8), batched[1]);
    }

    [Fact]
    public void Reorder_DuplicateRow_CacheRowsFollowIndices()
    {
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config());
        model.eval();
        using var _ = torch.no_grad();
        using var cache = model.CreateKvCache(2, 8);
        using var ids = torch.tensor(new long[] { 5, 6, 7, 8, 9, 10 }).view(2, 3);
        model.Logits(ids, cache).Dispose();
        cache.Reorder(torch.tensor(new long[] { 1, 1 }));
        using var next = model.Logits(torch.tensor(new long[] { 11, 11 }).view(2, 1), cache);
        using var expected = model.Logits(torch.tensor(new long[] { 8, 9, 10, 11 }).view(1, 4));
        Assert.True(next[0, 0].allclose(expected[0, -1], 1e-5, 1e-5));
        Assert.True(next[1, 0].allclose(expected[0, -1], 1e-5, 1e-5));
    }

    [Fact]
    public void Forward_BeyondCapacity_ThrowsGenerationException()
    {
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config());
        using var _ = torch.no_grad();
        using var cache = model.CreateKvCache(1, 4);
        Assert.Throws<GenerationException>(() => model.Logits(torch.zeros(1, 5, dtype: ScalarType.Int64), cache));
    }
}
