using SharpSeek.Data;
using SharpSeek.Data.Chat;
using SharpSeek.Distributed;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tests.Training.Objectives;
using SharpSeek.Tokenization;
using SharpSeek.Training.Objectives;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Distributed;

/// <summary><see cref="DataShard"/> and the objectives' shares of a global batch, on one process (no MPI).</summary>
public class DataShardTests
{
    [Fact]
    public void CheckDivisible_BatchNotSplitting_NamesTheSettingAndAFix()
    {
        var e = Assert.Throws<ConfigException>(() => DataShard.Of(1, 4).CheckDivisible("grpo.prompts_per_step", 6));
        Assert.Equal("grpo.prompts_per_step 6 does not split evenly over 4 ranks; choose a multiple of 4", e.Message);
        DataShard.Of(1, 4).CheckDivisible("batch_size", 8);                               // splits: no error
    }

    [Fact]
    public void Slice_EveryRank_ConcatenatesToTheGlobalBatch()
    {
        int[] items = [10, 11, 12, 13, 14, 15];
        var slices = Enumerable.Range(0, 3).Select(r => DataShard.Of(r, 3).Slice(items)).ToList();
        Assert.Equal([10, 11], slices[0]);
        Assert.Equal(items, slices.SelectMany(s => s));
        Assert.Equal(4, DataShard.Of(2, 3).Start(6));
        Assert.Equal(2, DataShard.Of(2, 3).Per(6));
        Assert.Equal(items, DataShard.Whole.Slice(items));
    }

    [Fact]
    public void Of_RankOutsideTheGroup_Throws() => Assert.Throws<ArgumentOutOfRangeException>(() => DataShard.Of(2, 2));

    private const int Vocab = 30;

    /// <summary>Sample <paramref name="i"/>: 3–6 ids whose last <paramref name="supervised"/> next tokens are targets.</summary>
    private static SftSample Sample(int i, int supervised)
    {
        int n = 3 + i % 4;
        var ids = Enumerable.Range(0, n).Select(k => (i * 7 + k * 3) % Vocab).ToArray();
        var targets = Enumerable.Range(0, n).Select(k => k < n - 1 && k >= n - 1 - supervised ? (long)ids[k + 1] : -100L).ToArray();
        return new SftSample(ids, targets);
    }

    [Fact]
    public void SftStep_TwoShards_SplitTheGlobalRowsAndWeighTheLossBySupervisedTokens()
    {
        manual_seed(21);
        using var model = new Gpt2LMHeadModel(new Gpt2Config { VocabSize = Vocab, NPositions = 16, NEmbd = 16, NLayer = 1, NHead = 2 });
        model.eval();
        var samples = Enumerable.Range(0, 10).Select(i => Sample(i, 1 + i % 3)).ToList();
        SftObjective Objective(DataShard shard) => new(samples, [Sample(20, 2)], batchSize: 4, blockSize: 16, packing: false, padId: 0) { Shard = shard };
        var whole = Objective(DataShard.Whole);
        var shards = new[] { Objective(DataShard.Of(0, 2)), Objective(DataShard.Of(1, 2)) };
        foreach (var o in shards.Append(whole)) o.Reseed(DataSplit.Train, 5);
        using var _ = no_grad();
        bool unequal = false;
        for (int step = 0; step < 4; step++)                                                  // 10 samples in rows of 4: crosses an epoch
        {
            using var scope = NewDisposeScope();
            var w = whole.Step(model, DataSplit.Train, StepMode.Train);
            var s = shards.Select(o => o.Step(model, DataSplit.Train, StepMode.Train)).ToList();
            double w0 = s[0].Weight!.Value, w1 = s[1].Weight!.Value;
            Assert.Equal(w.Weight, w0 + w1);
            Assert.Equal(w.Metrics["supervised"], (s[0].Metrics["supervised"] + s[1].Metrics["supervised"]) / 2);   // what the ranks' mean reports
            double weighted = (s[0].Loss.item<float>() * w0 + s[1].Loss.item<float>() * w1) / (w0 + w1);
            Assert.Equal(w.Loss.item<float>(), weighted, 1e-5);                              // the token-weighted mean is the global loss
            Assert.Equal(2 * 16, s[0].Tokens);
            unequal |= w0 != w1;
        }
        Assert.True(unequal, "the shards' supervised counts differ (else the weighting is not exercised)");
        Assert.Equal(whole.SaveState(), shards[1].SaveState());                                // the global position
    }

    [Fact]
    public void SftObjective_BatchNotSplitting_ThrowsConfigException()
    {
        var e = Assert.Throws<ConfigException>(() => new SftObjective([Sample(0, 1)], [Sample(1, 1)], 3, 16, false, 0) { Shard = DataShard.Of(0, 2) });
        Assert.StartsWith("batch_size 3 does not split evenly over 2 ranks", e.Message);
    }

    [Fact]
    public void PreferenceNext_TwoShards_SplitTheGlobalPairs()
    {
        using var tmp = new TempDir();
        var tokenizer = TokenizerLoader.Load(PreferenceTestData.ModelFolder(tmp["m"], "gpt2"));
        var whole = PreferenceTestData.ToyBatches(tokenizer, 16, 4, seed: 3);
        var shards = new[] { PreferenceTestData.ToyBatches(tokenizer, 16, 4, seed: 3), PreferenceTestData.ToyBatches(tokenizer, 16, 4, seed: 3) };
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            var w = whole.Next(DataSplit.Train, 4);
            var s = shards.Select((b, r) => b.Next(DataSplit.Train, 4, DataShard.Of(r, 2))).ToList();
            Assert.All(s, b => Assert.Equal(2, b.Pairs));
            static long[] Lengths(Tensor mask, int from, int count) => mask.sum(1).narrow(0, from, count).data<long>().ToArray();   // real tokens per row
            Assert.Equal(Lengths(w.AttentionMask, 0, 4), Lengths(s[0].AttentionMask, 0, 2).Concat(Lengths(s[1].AttentionMask, 0, 2)));   // chosen
            Assert.Equal(Lengths(w.AttentionMask, 4, 4), Lengths(s[0].AttentionMask, 2, 2).Concat(Lengths(s[1].AttentionMask, 2, 2)));   // rejected
            Assert.Equal(w.Tokens, s[0].Tokens + s[1].Tokens);
        }
        Assert.Equal(whole.SaveState(), shards[1].SaveState());
        using var v = NewDisposeScope();
        Assert.Equal(4, shards[1].Next(DataSplit.Val, 4, DataShard.Of(1, 2)).Pairs);          // held-out batches are not split
    }
}

public class WhitenOverRanksTests
{
    [Fact]
    public void WhitenOverRanks_TwoRanksHalves_EqualWhiteningTheWholeBatch()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var x = randn(4, 5) * 3 + 1;                                                        // (B, T)
        var mask = tensor(new float[] { 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0 }, [4, 5]);
        var expected = PolicyGradientMath.Whiten(x, mask);
        double[] Stats(Tensor xs, Tensor ms) => [(xs * ms).sum().item<float>(), (xs * xs * ms).sum().item<float>(), ms.sum().item<float>()];
        for (int rank = 0; rank < 2; rank++)
        {
            var other = Stats(x.narrow(0, 2 - 2 * rank, 2), mask.narrow(0, 2 - 2 * rank, 2));   // what the other rank contributes
            var shard = DataShard.Of(rank, 2) with { Average = v => { for (int i = 0; i < v.Length; i++) v[i] = (v[i] + other[i]) / 2; } };
            var mine = PpoObjective.WhitenOverRanks(x.narrow(0, 2 * rank, 2), mask.narrow(0, 2 * rank, 2), shard);
            Assert.True(mine.allclose(expected.narrow(0, 2 * rank, 2), rtol: 0, atol: 1e-5), $"rank {rank}");
        }
    }
}
