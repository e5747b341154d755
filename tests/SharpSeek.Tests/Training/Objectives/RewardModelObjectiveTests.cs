using SharpSeek.Data;
using SharpSeek.Data.Preference;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>The reward-model objective on hand-made pairs with a trunk whose hidden state is the token id, against hand-computed values.</summary>
public class RewardModelObjectiveTests
{
    /// <summary>A trunk with C = 1 whose last hidden state at each position is the token id there.</summary>
    private sealed class IdTrunk : CausalLM
    {
        public IdTrunk() : base(nameof(IdTrunk)) { }
        public override int VocabSize => 10;
        public override int HiddenSize => 1;
        public override int MaxSequenceLength => 16;
        public override string ModelType => "id";
        public override Device Device => CPU;
        public override Projection OutputHead => throw new NotSupportedException();
        public override CausalLMOutput forward(CausalLMInput input) =>
            new(null) { LastHiddenState = input.InputIds.to(ScalarType.Float32).unsqueeze(-1) };   // (B, T, 1)
        public override KvCache CreateKvCache(int batchSize, int capacity) => throw new NotSupportedException();
        public override void SavePretrained(string directory) => throw new NotSupportedException();
    }

    private static EncodedSequence Seq(params int[] ids) => new(ids, ids.Select(_ => true).ToArray());

    // score weight ½, so r = ½ · (last real token). Pair 1: chosen [1, 4] (padded to 3 with 0) → 2, rejected [1, 2, 3] → 1.5.
    // Pair 2: chosen [3] → 1.5, rejected [1, 6] → 3. Loss = ½(ln(1 + e^−0.5) + ln(1 + e^1.5)); accuracy ½; margin ½(0.5 − 1.5) = −0.5.
    [Fact]
    public void Step_TwoHandMadePairs_MatchesHandComputedLossAndMetrics()
    {
        var pairs = new List<EncodedPair> { new(Seq(1, 4), Seq(1, 2, 3), "hand:1"), new(Seq(3), Seq(1, 6), "hand:2") };
        var objective = new RewardModelObjective(new PreferenceBatches(pairs, pairs, 1), 2);
        using var model = RewardModel.FromCausalLM(new IdTrunk());
        using (no_grad()) model.ScoreHeadWeight.fill_(0.5);

        var step = objective.Step(model, DataSplit.Val, StepMode.Eval);
        double expected = (Math.Log(1 + Math.Exp(-0.5)) + Math.Log(1 + Math.Exp(1.5))) / 2;
        Assert.Equal(expected, step.Loss.item<float>(), 6);
        Assert.Equal(0.5, step.Metrics["accuracy"]);
        Assert.Equal(-0.5, step.Metrics["margin"], 6);
        Assert.Equal(2 + 3 + 1 + 2, step.Tokens);
        Assert.Equal(0.5, objective.HeldOutAccuracy(model));
    }

    [Fact]
    public void Validate_PlainLanguageModel_ThrowsConfigException()
    {
        var pairs = new List<EncodedPair> { new(Seq(1, 4), Seq(1, 2, 3), "hand:1") };
        var objective = new RewardModelObjective(new PreferenceBatches(pairs, pairs, 1), 2);
        Assert.Throws<ConfigException>(() => objective.Validate(new IdTrunk()));
    }

    [Fact]
    public void RestoreState_SavedMidStream_GivesTheSameNextBatches()
    {
        var pairs = Enumerable.Range(1, 9).Select(i => new EncodedPair(Seq(i), Seq(i, i), $"p:{i}")).ToList();
        var data = new PreferenceBatches(pairs, pairs, 5);
        data.Next(DataSplit.Train, 3);
        data.Next(DataSplit.Val, 4);
        string state = data.SaveState();
        long[] Both() => [.. data.Next(DataSplit.Train, 3).Ids.data<long>(), .. data.Next(DataSplit.Val, 3).Ids.data<long>()];
        var expected = Both();
        data.RestoreState(state);
        Assert.Equal(expected, Both());
        data.Reseed(DataSplit.Val, 0);
        Assert.Equal(1, data.Next(DataSplit.Val, 1).Ids[0, 0].item<long>());                 // held-out pairs restart at the first
    }
}
