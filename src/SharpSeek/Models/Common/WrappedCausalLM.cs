using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// A causal LM that is another one plus parts of its own (LoRA adapters, a reward model's score head, PPO's value head):
/// every member of the contract passes through to <see cref="Inner"/> — forward, cache, head, compute dtype, the after-step
/// hook, MoE load statistics and multi-token prediction — so generation, evaluation and the trainer see the inner model.
/// A subclass registers <see cref="Inner"/> under its Hugging Face name, adds its parts and overrides what differs.
/// </summary>
public abstract class WrappedCausalLM : CausalLM, IMultiTokenPredictor
{
    /// <summary>Wraps <paramref name="inner"/> (the subclass registers it as a submodule).</summary>
    protected WrappedCausalLM(string name, CausalLM inner) : base(name) => Inner = inner;

    /// <summary>The wrapped model.</summary>
    protected CausalLM Inner { get; }

    public override int VocabSize => Inner.VocabSize;
    public override int HiddenSize => Inner.HiddenSize;
    public override int MaxSequenceLength => Inner.MaxSequenceLength;
    public override string ModelType => Inner.ModelType;
    public override Device Device => Inner.Device;
    public override Projection OutputHead => Inner.OutputHead;

    /// <summary>The inner model's forward (logits, hidden states, auxiliary losses).</summary>
    public override CausalLMOutput forward(CausalLMInput input) => Inner.call(input);

    public override KvCache CreateKvCache(int batchSize, int capacity) => Inner.CreateKvCache(batchSize, capacity);

    protected override void OnComputeDTypeChanged(ScalarType? dtype) => Inner.ComputeDType = dtype ?? ScalarType.Float32;

    public override void AfterOptimizerStep(Action<long[]>? sumOverRanks = null) => Inner.AfterOptimizerStep(sumOverRanks);

    public override IReadOnlyList<double> ExpertLoadImbalance => Inner.ExpertLoadImbalance;

    /// <summary>
    /// Takes the inner model's compute dtype and mode: call at the end of the subclass constructor, after its parts are
    /// registered (they follow the switch).
    /// </summary>
    protected void AdoptInnerState()
    {
        if (Inner.ComputeDType != ScalarType.Float32) ComputeDType = Inner.ComputeDType;
        if (!Inner.training) eval();
    }

    public int MtpDepth => Inner is IMultiTokenPredictor m ? m.MtpDepth : 0;
    public double MtpLossWeight => Inner is IMultiTokenPredictor m ? m.MtpLossWeight : 0;

    public KvCache CreateMtpKvCache(int batchSize, int capacity) => Predictor.CreateMtpKvCache(batchSize, capacity);

    public (Tensor Hidden, Tensor Logits) MtpForward(int module, Tensor nextIds, Tensor previous, KvCache cache) =>
        Predictor.MtpForward(module, nextIds, previous, cache);

    private IMultiTokenPredictor Predictor => Inner as IMultiTokenPredictor ?? throw new NotSupportedException($"the model ({ModelType}) has no multi-token-prediction modules");
}
