using SharpSeek.Data;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>Where the soft labels come from: teachers run on each batch, or a top-k teacher cache.</summary>
public interface ISoftTargets
{
    /// <summary>The models read but never trained (live teachers; none for a cache).</summary>
    IReadOnlyList<CausalLM> Frozen { get; }

    /// <summary>Whether there are targets for <paramref name="batch"/> (a cache covers only the positions it holds).</summary>
    bool Covers(DistillBatch batch);

    /// <summary>Target log-probabilities at τ for every position of <paramref name="batch"/>: (N, V) with Ids null, or top-k (N, k) with their ids (N, k).</summary>
    (Tensor? Ids, Tensor LogProbs) For(DistillBatch batch, DataSplit split);

    /// <summary>Throws <see cref="ConfigException"/> when the targets' vocabulary is not <paramref name="student"/>'s.</summary>
    void CheckVocabulary(CausalLM student);
}

/// <summary>Teachers run under no_grad on each batch; several mix as Σ w_i softmax(z_i / τ) (<see cref="DistillationMath.MixtureLogProbs"/>).</summary>
public sealed class LiveTeachers : ISoftTargets
{
    private readonly IReadOnlyList<CausalLM> _teachers;
    private readonly IReadOnlyList<double> _weights;
    private readonly double _temperature;

    /// <summary>Freezes <paramref name="teachers"/> (eval mode, requires_grad off).</summary>
    public LiveTeachers(IReadOnlyList<CausalLM> teachers, IReadOnlyList<double> weights, double temperature)
    {
        if (teachers.Count == 0 || teachers.Count != weights.Count) throw new ArgumentException($"{teachers.Count} teachers for {weights.Count} weights", nameof(weights));
        if (weights.Any(w => !(w > 0))) throw new ConfigException("every teacher weight must be positive");
        _teachers = teachers; _weights = weights; _temperature = temperature;
        foreach (var t in teachers)
        {
            t.eval();
            foreach (var p in t.parameters()) p.requires_grad = false;
        }
    }

    public IReadOnlyList<CausalLM> Frozen => _teachers;

    public bool Covers(DistillBatch batch) => true;

    public (Tensor? Ids, Tensor LogProbs) For(DistillBatch batch, DataSplit split)
    {
        using var _ = no_grad();
        var logits = _teachers.Select(t =>
        {
            using var output = t.call(batch.Input);
            return output.TakeLogits().reshape(-1, t.VocabSize);                      // (B·T, V)
        }).ToList();
        return (null, DistillationMath.MixtureLogProbs(logits, _weights, _temperature));
    }

    public void CheckVocabulary(CausalLM student)
    {
        foreach (var t in _teachers)
            if (student.VocabSize != t.VocabSize)
                throw new ConfigException($"the teacher's vocabulary ({t.VocabSize} tokens) differs from the student's ({student.VocabSize}); distillation needs one vocabulary");
    }
}

/// <summary>The top-k targets of a <see cref="TeacherCache"/>, looked up by each position's cache row.</summary>
public sealed class CachedTargets(TopKTargets train, TopKTargets val, int vocabSize) : ISoftTargets
{
    public IReadOnlyList<CausalLM> Frozen => [];

    public bool Covers(DistillBatch batch) => batch.CacheRows is not null;

    public (Tensor? Ids, Tensor LogProbs) For(DistillBatch batch, DataSplit split)
    {
        var rows = batch.CacheRows ?? throw new InvalidOperationException("these batches have no cache rows (random windows); use aligned windows with a cache");
        var source = split == DataSplit.Train ? train : val;
        if (rows.Any(r => r >= source.Count))
            throw new ConfigException($"the teacher cache holds {source.Count} {split.ToString().ToLowerInvariant()} positions but the data asks for more; rebuild it");
        var index = tensor(rows.Select(r => Math.Max(r, 0)).ToArray());                 // (N); rows −1 (padding) read row 0, masked out
        return (source.Ids.index_select(0, index), source.LogProbs.index_select(0, index));   // (N, k) each
    }

    public void CheckVocabulary(CausalLM student)
    {
        if (student.VocabSize != vocabSize)
            throw new ConfigException($"the teacher cache was built with a vocabulary of {vocabSize} tokens but the student has {student.VocabSize}; distillation needs one vocabulary");
    }
}

/// <summary>
/// Knowledge distillation with soft labels (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network"; DeepSeek-R1
/// §3.2 distils into small dense models): the student (the policy) learns the teachers' next-token distributions,
/// loss = α·CE(labels) + (1 − α)·τ²·D(p_teacher^τ, p_student^τ), p^τ = softmax(logits / τ); the τ² keeps the soft term's
/// gradients at the scale of the hard one's as τ changes. D is forward KL(teacher ‖ student), reverse KL(student ‖ teacher)
/// or λ·forward + (1 − λ)·reverse (<see cref="DistillationMath.Divergence"/>). Several teachers give the weighted average of
/// their distributions at τ. The targets come from frozen teachers run under no_grad (any family or size, one vocabulary) or
/// from a top-k <see cref="TeacherCache"/>. Data: token windows, or SFT rows where only assistant positions (targets not
/// <see cref="LanguageModelLoss.IgnoreIndex"/>) carry the CE and the KL. The student's auxiliary (MoE balance) losses are
/// added; MTP depths are not distilled. Metrics: "kl" (D at τ) and "ce" (hard labels); evaluation reports the student's CE as
/// the loss, as the LM objective does, and "kl". Data parallel: the data (<see cref="IDistillData"/>) gives each rank its
/// share of every global batch; a step's <see cref="ObjectiveStep.Weight"/> is its count of kept positions (SFT rows differ).
/// </summary>
public sealed class DistillationObjective : IObjective
{
    private readonly IDistillData _data;
    private readonly ISoftTargets _targets;

    /// <summary>Softmax temperature τ of both distributions.</summary>
    public double Temperature { get; }

    /// <summary>Weight α of the hard-label cross-entropy; 1 − α weighs τ²·D.</summary>
    public double HardLabelWeight { get; }

    /// <summary>The divergence D.</summary>
    public DivergenceKind Divergence { get; }

    /// <summary>λ of <see cref="DivergenceKind.Mix"/>.</summary>
    public double MixWeight { get; }

    /// <summary>Distils from <paramref name="targets"/> over <paramref name="data"/>.</summary>
    public DistillationObjective(IDistillData data, ISoftTargets targets, double temperature = 1.0, double hardLabelWeight = 0.0,
                                 DivergenceKind divergence = DivergenceKind.Forward, double mixWeight = 0.5)
    {
        if (!(temperature > 0)) throw new ConfigException($"distillation temperature must be positive, got {temperature}");
        if (!(hardLabelWeight is >= 0 and <= 1)) throw new ConfigException($"distillation hard-label weight must be in [0, 1], got {hardLabelWeight}");
        if (!(mixWeight is >= 0 and <= 1)) throw new ConfigException($"distillation mix weight must be in [0, 1], got {mixWeight}");
        _data = data; _targets = targets;
        Temperature = temperature; HardLabelWeight = hardLabelWeight; Divergence = divergence; MixWeight = mixWeight;
    }

    /// <summary>
    /// Distils <paramref name="teacher"/>, which this objective freezes (eval mode, requires_grad off), over random windows of
    /// <paramref name="data"/> with forward KL.
    /// </summary>
    public DistillationObjective(IBatchSource data, int batchSize, int blockSize, CausalLM teacher, double temperature = 1.0, double hardLabelWeight = 0.0)
        : this(new WindowData(data, batchSize, blockSize), new LiveTeachers([teacher], [1.0], CheckedTemperature(temperature)), temperature, hardLabelWeight) { }

    public IReadOnlyList<CausalLM> FrozenModels => _targets.Frozen;

    public void Validate(CausalLM policy)
    {
        _data.Validate(policy);
        _targets.CheckVocabulary(policy);
        foreach (var t in _targets.Frozen)
            if (_data.BlockSize > t.MaxSequenceLength)
                throw new ConfigException($"block_size {_data.BlockSize} exceeds the teacher's maximum sequence length {t.MaxSequenceLength}");
    }

    public ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode)
    {
        _targets.CheckVocabulary(policy);
        var batch = _data.Next(split);
        long tokens = batch.Targets.numel();
        if (!_targets.Covers(batch))
        {
            if (mode == StepMode.Train) throw new InvalidOperationException("the soft targets do not cover this training batch");
            using var evalOutput = policy.call(batch.Input);                          // held-out windows no cache row covers: CE alone
            var logits = evalOutput.Logits!;
            var ceOnly = LanguageModelLoss.CrossEntropy(logits.reshape(-1, logits.shape[^1]), batch.Targets.reshape(-1));
            return new ObjectiveStep(ceOnly, new Dictionary<string, double> { ["ce"] = ceOnly.item<float>() }, tokens);
        }
        var (ids, logP) = _targets.For(batch, split);                                  // (N, V) or (N, k) each
        using var output = policy.call(batch.Input);
        var v = output.Logits!.shape[^1];
        var studentLogits = output.Logits!.reshape(-1, v);                             // (B·T, V)
        var targets = batch.Targets.reshape(-1);                                       // (B·T)
        var keep = targets.ne(LanguageModelLoss.IgnoreIndex);                          // (B·T)
        if (batch.CacheRows is { } rows && ids is not null) keep = keep.logical_and(tensor(rows.Select(r => r >= 0).ToArray()));
        var kl = DistillationMath.Divergence(studentLogits, logP, Temperature, Divergence, MixWeight, ids, keep);
        bool hardTerm = mode == StepMode.Eval || HardLabelWeight > 0;
        Tensor ce;
        using (hardTerm ? null : no_grad()) ce = LanguageModelLoss.CrossEntropy(studentLogits, targets);   // a metric only when α = 0
        var metrics = new Dictionary<string, double> { ["kl"] = kl.item<float>(), ["ce"] = ce.item<float>() };
        if (mode == StepMode.Eval) return new ObjectiveStep(ce, metrics, tokens);
        var loss = DistillationMath.Mix(ce, kl, Temperature, HardLabelWeight);
        foreach (var aux in output.AuxiliaryLosses) loss = loss + aux;
        return new ObjectiveStep(loss, metrics, tokens) { Weight = keep.sum().item<long>() };   // CE and KL are means over the kept positions
    }

    public void Reseed(DataSplit split, ulong seed) => _data.Reseed(split, seed);

    public string SaveState() => _data.SaveState();

    public void RestoreState(string state) => _data.RestoreState(state);

    /// <summary>
    /// Mean over positions of KL(p ‖ q) = Σ_v p_v (log p_v − log q_v) with p = softmax(teacher / τ) and q = softmax(student / τ),
    /// in float32, over rows (N, V); positions whose target (N) is <see cref="LanguageModelLoss.IgnoreIndex"/> are left out
    /// (0 when none is left). Gradients reach the student only.
    /// </summary>
    public static Tensor KlDivergence(Tensor studentLogits, Tensor teacherLogits, double temperature, Tensor? targets = null)
    {
        using var scope = NewDisposeScope();
        var logP = DistillationMath.LogProbs(teacherLogits.detach(), temperature);                                        // (N, V)
        var keep = targets?.ne(LanguageModelLoss.IgnoreIndex);                                                            // (N)
        return DistillationMath.Divergence(studentLogits, logP, temperature, keep: keep).MoveToOuterDisposeScope();
    }

    /// <summary>Hinton et al.'s mix α·CE + (1 − α)·τ²·KL of the hard-label cross-entropy and the soft-label KL.</summary>
    public static Tensor Mix(Tensor ce, Tensor kl, double temperature, double hardLabelWeight) => DistillationMath.Mix(ce, kl, temperature, hardLabelWeight);

    private static double CheckedTemperature(double temperature) =>
        temperature > 0 ? temperature : throw new ConfigException($"distillation temperature must be positive, got {temperature}");
}
