using SharpSeek.Data;
using SharpSeek.Data.Chat;
using SharpSeek.Models.Common;
using SharpSeek.Models.Gpt2;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

public class SftObjectiveTests
{
    private const int Vocab = 30;

    private static Gpt2LMHeadModel Model()
    {
        manual_seed(21);
        var model = new Gpt2LMHeadModel(new Gpt2Config { VocabSize = Vocab, NPositions = 16, NEmbd = 16, NLayer = 1, NHead = 2 });
        model.eval();
        return model;
    }

    /// <summary>Sample <paramref name="i"/>: 3–6 prompt-like ids whose last <paramref name="supervised"/> next tokens are targets.</summary>
    private static SftSample Sample(int i, int supervised = 2)
    {
        int n = 3 + i % 4;
        var ids = Enumerable.Range(0, n).Select(k => (i * 7 + k * 3) % Vocab).ToArray();
        var targets = Enumerable.Range(0, n).Select(k => k < n - 1 && k >= n - 1 - supervised ? (long)ids[k + 1] : -100L).ToArray();
        return new SftSample(ids, targets);
    }

    [Fact]
    public void CrossEntropy_PackedRows_MaskedPositionsGetExactlyZeroGradientAndDoNotMoveTheLoss()
    {
        using var model = Model();
        using var scope = NewDisposeScope();
        var rows = SftRows.Build([Sample(0), Sample(1), Sample(2)], blockSize: 16, packing: true, padId: 0);
        var (input, targets) = SftObjective.Batch(rows, CPU, packed: true);                  // (B, T)
        var logits = model.call(input).TakeLogits().detach().requires_grad_(true);          // (B, T, V) as a leaf
        var loss = LanguageModelLoss.CrossEntropy(logits.reshape(-1, Vocab), targets.reshape(-1));
        loss.backward();
        var masked = targets.eq(-100);                                                       // (B, T)
        Assert.True(masked.any().item<bool>() && masked.logical_not().any().item<bool>());
        Assert.Equal(0f, logits.grad!.abs().sum(-1).masked_select(masked).max().item<float>());          // exactly zero
        Assert.True(logits.grad!.abs().sum(-1).masked_select(masked.logical_not()).min().item<float>() > 0);

        using var _ = no_grad();
        var perturbed = logits.detach() + randn_like(logits) * 10 * masked.unsqueeze(-1);   // change masked positions only
        var after = LanguageModelLoss.CrossEntropy(perturbed.reshape(-1, Vocab), targets.reshape(-1));
        Assert.Equal(loss.item<float>(), after.item<float>());
    }

    [Fact]
    public void Step_Train_LossIsMeanNllOverSupervisedTargets()
    {
        using var model = Model();
        using var scope = NewDisposeScope();
        SftSample[] samples = [Sample(0, 1), Sample(1, 3), Sample(2, 2)];
        var objective = new SftObjective(samples, [Sample(5)], batchSize: 1, blockSize: 16, packing: true, padId: 0);
        objective.Reseed(DataSplit.Train, 1);
        var step = objective.Step(model, DataSplit.Train, StepMode.Train);
        Assert.Equal(6.0, step.Metrics["supervised"]);                                      // 1 + 3 + 2, all in one row
        // by hand: each sample alone (no packing), −log p(target) at its supervised positions, averaged over all six
        double sum = 0;
        foreach (var s in samples)
            using (no_grad())
            {
                var logp = model.Logits(tensor(s.Ids.Select(i => (long)i).ToArray(), [1, s.Length])).log_softmax(-1);   // (1, n, V)
                for (int k = 0; k < s.Length; k++)
                    if (s.Targets[k] >= 0) sum -= logp[0, k, s.Targets[k]].item<float>();
            }
        Assert.Equal(sum / 6, step.Loss.item<float>(), 5);
    }

    [Fact]
    public void SaveState_RestoredInANewObjective_ContinuesWithTheSameBatches()
    {
        using var model = Model();
        var samples = Enumerable.Range(0, 9).Select(i => Sample(i)).ToArray();
        SftObjective New() => new(samples, [Sample(20)], batchSize: 2, blockSize: 8, packing: false, padId: 0);
        double Next(SftObjective o) { using var s = NewDisposeScope(); using var _ = no_grad(); return o.Step(model, DataSplit.Train, StepMode.Eval).Loss.item<float>(); }

        var straight = New();
        straight.Reseed(DataSplit.Train, 5);
        var expected = Enumerable.Range(0, 12).Select(_ => Next(straight)).ToList();       // 12 × 2 rows: past two epochs of 9
        var first = New();
        first.Reseed(DataSplit.Train, 5);
        for (int i = 0; i < 7; i++) Next(first);
        var resumed = New();
        resumed.Reseed(DataSplit.Train, 5);
        resumed.RestoreState(first.SaveState());
        Assert.Equal(expected.Skip(7), Enumerable.Range(0, 5).Select(_ => Next(resumed)));
        Assert.Throws<CheckpointException>(() => resumed.RestoreState("12 3"));
    }

    [Fact]
    public void Shuffled_EachEpoch_APermutationThatChangesWithEpochAndSeed()
    {
        var samples = Enumerable.Range(0, 50).Select(i => Sample(i)).ToArray();
        var e0 = SftObjective.Shuffled(samples, 1, 0);
        var e1 = SftObjective.Shuffled(samples, 1, 1);
        Assert.Equal(samples.ToHashSet(), e0.ToHashSet());
        Assert.NotEqual(e0, e1);
        Assert.NotEqual(e0, SftObjective.Shuffled(samples, 2, 0));
        Assert.Equal(e0, SftObjective.Shuffled(samples, 1, 0));
    }

    [Fact]
    public void Validate_IdBeyondVocabOrBlockBeyondContext_ThrowsConfigException()
    {
        using var model = Model();
        var big = new SftSample([1, Vocab], [Vocab, -100]);
        Assert.Contains("token id 30", Assert.Throws<ConfigException>(() => new SftObjective([big], [Sample(1)], 1, 8, true, 0).Validate(model)).Message);
        Assert.Contains("block_size 32", Assert.Throws<ConfigException>(() => new SftObjective([Sample(0)], [Sample(1)], 1, 32, true, 0).Validate(model)).Message);
    }
}
