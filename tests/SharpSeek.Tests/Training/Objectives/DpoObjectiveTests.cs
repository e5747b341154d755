using SharpSeek.Data;
using SharpSeek.Data.Preference;
using SharpSeek.Models.Common;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>DPO at the objective level on one hand-made pair with fixed logits (vocabulary 2), against values worked out by hand.</summary>
public class DpoObjectiveTests
{
    /// <summary>A model whose logits are fixed (B, T, V) tensors, whatever the ids.</summary>
    private sealed class FixedLogitsLM : CausalLM
    {
        private readonly Tensor _logits;
        public FixedLogitsLM(Tensor logits) : base(nameof(FixedLogitsLM)) { _logits = logits; }
        public override int VocabSize => (int)_logits.shape[2];
        public override int HiddenSize => 1;
        public override int MaxSequenceLength => 16;
        public override string ModelType => "fixed";
        public override Device Device => CPU;
        public override Projection OutputHead => throw new NotSupportedException();
        public override CausalLMOutput forward(CausalLMInput input) =>
            new(_logits.clone()) { LastHiddenState = zeros(_logits.shape[0], _logits.shape[1], 1) };
        public override KvCache CreateKvCache(int batchSize, int capacity) => throw new NotSupportedException();
        public override void SavePretrained(string directory) => throw new NotSupportedException();
    }

    // Prompt = tokens 0..1, completion = tokens 2..3 (mask [0, 0, 1, 1]); logits at t predict token t + 1, so positions 1 and 2
    // score the completion, position 0 scores a prompt token and position 3 predicts past the end.
    //   chosen   ids [0, 1, 1, 0]: policy p(1) at t=1 = ¾ (logits [0, ln 3]), p(0) at t=2 = ¾ (logits [ln 3, 0]) → log π(c) = 2 ln ¾
    //   rejected ids [0, 1, 0, 1]: policy uniform                                                        → log π(r) = 2 ln ½
    //   reference uniform everywhere → log π_ref = 2 ln ½ for both.
    // β = ½: z = ½·(2 ln ¾ − 2 ln ½) = ln 1.5, loss = −ln σ(ln 1.5) = ln(1 + ⅔) = ln(5/3);
    // implicit rewards: chosen ln 1.5, rejected 0; margin ln 1.5; accuracy 1.
    private static readonly float Ln3 = MathF.Log(3);

    private static PreferenceBatches OnePair()
    {
        var pair = new EncodedPair(new EncodedSequence([0, 1, 1, 0], [false, false, true, true]),
                                   new EncodedSequence([0, 1, 0, 1], [false, false, true, true]), "hand:1");
        return new PreferenceBatches([pair], [pair], 1);
    }

    /// <summary>Policy logits (2, 4, 2): row 0 chosen, row 1 rejected; <paramref name="promptLogit"/> at t = 0 and <paramref name="pastEnd"/> at t = 3.</summary>
    private static Tensor PolicyLogits(float promptLogit = 0, float pastEnd = 0) => tensor(new float[]
    {
        promptLogit, 0,   0, Ln3,   Ln3, 0,   pastEnd, 0,      // chosen
        promptLogit, 0,   0, 0,     0, 0,     pastEnd, 0,      // rejected
    }, [2, 4, 2]);

    private static ObjectiveStep Step(Tensor policyLogits, StepMode mode = StepMode.Train)
    {
        var objective = new DpoObjective(OnePair(), 1, new FixedLogitsLM(zeros(2, 4, 2)), beta: 0.5);
        return objective.Step(new FixedLogitsLM(policyLogits), mode == StepMode.Train ? DataSplit.Train : DataSplit.Val, mode);
    }

    [Fact]
    public void Step_HandMadePair_MatchesHandComputedLossAndMetrics()
    {
        var step = Step(PolicyLogits());
        Assert.Equal(Math.Log(5.0 / 3), step.Loss.item<float>(), 6);
        Assert.Equal(Math.Log(1.5), step.Metrics["chosen_reward"], 6);
        Assert.Equal(0, step.Metrics["rejected_reward"], 6);
        Assert.Equal(Math.Log(1.5), step.Metrics["margin"], 6);
        Assert.Equal(1, step.Metrics["reward_accuracy"]);
        Assert.Equal(8, step.Tokens);
    }

    [Fact]
    public void Step_PromptAndPastEndLogitsChanged_LossUnchanged()
    {
        var changed = Step(PolicyLogits(promptLogit: 5, pastEnd: -7)).Loss.item<float>();
        Assert.Equal(Math.Log(5.0 / 3), changed, 6);

        // control: a change at a completion position does move the loss
        var completionChanged = PolicyLogits();
        completionChanged[0, 2, 0] = tensor(2f * Ln3);                                       // p(0) at t = 2 becomes 9/10
        Assert.NotEqual(Math.Log(5.0 / 3), Step(completionChanged).Loss.item<float>(), 3);
    }

    [Fact]
    public void SequenceLogProbs_HandMadePair_SumsCompletionTokensOnly()
    {
        using var scope = NewDisposeScope();
        var batch = OnePair().Next(DataSplit.Train, 1);
        var logps = DpoObjective.SequenceLogProbs(new FixedLogitsLM(PolicyLogits(promptLogit: 3)), batch, out _);
        Assert.Equal(2 * Math.Log(0.75), logps[0].item<float>(), 6);
        Assert.Equal(2 * Math.Log(0.5), logps[1].item<float>(), 6);
    }

    [Fact]
    public void Constructor_Reference_IsFrozenAndListed()
    {
        var reference = PreferenceTestData.TinyModel("gpt2");
        reference.train();
        var objective = new DpoObjective(OnePair(), 1, reference);
        Assert.False(reference.training);
        Assert.All(reference.parameters(), p => Assert.False(p.requires_grad));
        Assert.Same(reference, Assert.Single(objective.FrozenModels));
        Assert.Equal(0.1, objective.Beta);
    }
}
