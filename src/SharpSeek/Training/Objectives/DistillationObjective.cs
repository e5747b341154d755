using SharpSeek.Data;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// Knowledge distillation with soft labels (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"): the student
/// (the policy) learns the frozen teacher's next-token distributions on token windows of an <see cref="IBatchSource"/>,
/// loss = α·CE(labels) + (1 − α)·τ²·KL(p_teacher^τ ‖ p_student^τ), p^τ = softmax(logits / τ); the τ² keeps the soft
/// term's gradients at the scale of the hard one's as τ changes. The teacher runs under no_grad at the compute dtype it
/// was given; any family or size works as long as the vocabularies match. The student's auxiliary (MoE balance) losses are added; MTP depths are not
/// distilled. Metrics: "kl" (at τ) and "ce" (hard labels); evaluation reports the student's CE as the loss, as the LM
/// objective does, and "kl".
/// </summary>
public sealed class DistillationObjective : IObjective
{
    private readonly IBatchSource _data;
    private readonly int _batchSize, _blockSize;
    private readonly CausalLM _teacher;

    /// <summary>Softmax temperature τ of both distributions.</summary>
    public double Temperature { get; }

    /// <summary>Weight α of the hard-label cross-entropy; 1 − α weighs τ²·KL.</summary>
    public double HardLabelWeight { get; }

    /// <summary>
    /// Distils <paramref name="teacher"/>, which this objective freezes (eval mode, requires_grad off), over windows of
    /// <paramref name="data"/>.
    /// </summary>
    public DistillationObjective(IBatchSource data, int batchSize, int blockSize, CausalLM teacher, double temperature = 1.0, double hardLabelWeight = 0.0)
    {
        if (!(temperature > 0)) throw new ConfigException($"distillation temperature must be positive, got {temperature}");
        if (!(hardLabelWeight is >= 0 and <= 1)) throw new ConfigException($"distillation hard-label weight must be in [0, 1], got {hardLabelWeight}");
        _data = data; _batchSize = batchSize; _blockSize = blockSize; _teacher = teacher;
        Temperature = temperature; HardLabelWeight = hardLabelWeight;
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad = false;
    }

    public IReadOnlyList<CausalLM> FrozenModels => [_teacher];

    public void Validate(CausalLM policy)
    {
        LanguageModelObjective.ValidateWindows(_data, _blockSize, policy);
        CheckVocabularies(policy);
        if (_blockSize > _teacher.MaxSequenceLength)
            throw new ConfigException($"block_size {_blockSize} exceeds the teacher's maximum sequence length {_teacher.MaxSequenceLength}");
    }

    public ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode)
    {
        CheckVocabularies(policy);
        var (x, y) = _data.SampleBatch(split, _batchSize, _blockSize);                 // (B, T), (B, T)
        long tokens = (long)_batchSize * _blockSize;
        Tensor teacherLogits;
        using (no_grad()) teacherLogits = _teacher.Logits(x);                          // (B, T, V)
        using var output = policy.call(new CausalLMInput(x));
        var v = output.Logits!.shape[^1];
        var studentLogits = output.Logits!.reshape(-1, v);                             // (B·T, V)
        var targets = y.reshape(-1);                                                   // (B·T)
        var kl = KlDivergence(studentLogits, teacherLogits.reshape(-1, v), Temperature, targets);
        bool hardTerm = mode == StepMode.Eval || HardLabelWeight > 0;
        Tensor ce;
        using (hardTerm ? null : no_grad()) ce = LanguageModelLoss.CrossEntropy(studentLogits, targets);   // a metric only when α = 0
        var metrics = new Dictionary<string, double> { ["kl"] = kl.item<float>(), ["ce"] = ce.item<float>() };
        if (mode == StepMode.Eval) return new ObjectiveStep(ce, metrics, tokens);
        var loss = Mix(ce, kl, Temperature, HardLabelWeight);
        foreach (var aux in output.AuxiliaryLosses) loss = loss + aux;
        return new ObjectiveStep(loss, metrics, tokens);
    }

    public void Reseed(DataSplit split, ulong seed) => _data.Reseed(split, seed);

    public string SaveState() => _data.SaveState();

    public void RestoreState(string state) => _data.RestoreState(state);

    private void CheckVocabularies(CausalLM student)
    {
        if (student.VocabSize != _teacher.VocabSize)
            throw new ConfigException($"the teacher's vocabulary ({_teacher.VocabSize} tokens) differs from the student's ({student.VocabSize}); distillation needs one vocabulary");
    }

    /// <summary>
    /// Mean over positions of KL(p ‖ q) = Σ_v p_v (log p_v − log q_v) with p = softmax(teacher / τ) and q = softmax(student / τ),
    /// in float32, over rows (N, V); positions whose target (N) is <see cref="LanguageModelLoss.IgnoreIndex"/> are left out
    /// (0 when none is left). Gradients reach the student only.
    /// </summary>
    public static Tensor KlDivergence(Tensor studentLogits, Tensor teacherLogits, double temperature, Tensor? targets = null)
    {
        using var scope = NewDisposeScope();
        var logQ = (studentLogits.to(ScalarType.Float32) / temperature).log_softmax(-1);                  // (N, V)
        var logP = (teacherLogits.detach().to(ScalarType.Float32) / temperature).log_softmax(-1);         // (N, V)
        var perRow = (logP.exp() * (logP - logQ)).sum(-1);                                                // (N)
        if (targets is null) return perRow.mean().MoveToOuterDisposeScope();
        var keep = targets.ne(LanguageModelLoss.IgnoreIndex).to(ScalarType.Float32);                      // (N)
        return ((perRow * keep).sum() / keep.sum().clamp_min(1)).MoveToOuterDisposeScope();
    }

    /// <summary>Hinton et al.'s mix α·CE + (1 − α)·τ²·KL of the hard-label cross-entropy and the soft-label KL.</summary>
    public static Tensor Mix(Tensor ce, Tensor kl, double temperature, double hardLabelWeight)
    {
        double soft = (1 - hardLabelWeight) * temperature * temperature;
        return hardLabelWeight == 0 ? kl * soft : ce * hardLabelWeight + kl * soft;
    }
}
