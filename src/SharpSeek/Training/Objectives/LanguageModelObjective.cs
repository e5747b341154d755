using SharpSeek.Data;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// The pretraining objective of a causal LM over random token windows of an <see cref="IBatchSource"/>: next-token
/// cross-entropy of the main head, + (λ/D)·Σ_k CE_k of the multi-token-prediction depths (DeepSeek-V3 §2.2, eq. 24–25:
/// depth k predicts the targets shifted by k), + the model's auxiliary losses (DeepSeek-V3's sequence-wise balance
/// losses, §2.1.2 eq. 17–20). Evaluation reports the main head alone. Models with MTP or auxiliary terms also report
/// the parts as metrics "ce", "mtp" and "aux".
/// </summary>
public sealed class LanguageModelObjective : IObjective
{
    private readonly IBatchSource _data;
    private readonly int _batchSize, _blockSize;

    /// <param name="data">Token windows with next-token targets.</param>
    /// <param name="batchSize">Windows per micro-batch (B).</param>
    /// <param name="blockSize">Tokens per window (T).</param>
    public LanguageModelObjective(IBatchSource data, int batchSize, int blockSize)
    {
        _data = data; _batchSize = batchSize; _blockSize = blockSize;
    }

    public IReadOnlyList<CausalLM> FrozenModels => [];

    public void Validate(CausalLM policy) => ValidateWindows(_data, _blockSize, policy);

    public ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode)
    {
        var (x, y) = _data.SampleBatch(split, _batchSize, _blockSize);                 // (B, T), (B, T)
        long tokens = (long)_batchSize * _blockSize;
        if (mode == StepMode.Eval) return new ObjectiveStep(MainHeadCrossEntropy(policy, x, y), ObjectiveStep.NoMetrics, tokens);
        var metrics = new Dictionary<string, double>();
        return new ObjectiveStep(Loss(policy, new CausalLMInput(x), y, metrics), metrics, tokens);
    }

    public void Reseed(DataSplit split, ulong seed) => _data.Reseed(split, seed);

    public string SaveState() => _data.SaveState();

    public void RestoreState(string state) => _data.RestoreState(state);

    /// <summary>Throws when <paramref name="data"/>'s windows of <paramref name="blockSize"/> do not fit <paramref name="model"/> or a split is too short.</summary>
    internal static void ValidateWindows(IBatchSource data, int blockSize, CausalLM model)
    {
        if (data.TokenCount(DataSplit.Train) < blockSize + 1 || data.TokenCount(DataSplit.Val) < blockSize + 1)
            throw new DataException($"the data has {data.TokenCount(DataSplit.Train)} train and {data.TokenCount(DataSplit.Val)} val tokens; each split needs more than block_size = {blockSize}");
        if (data.VocabSize > model.VocabSize)
            throw new ConfigException($"the data uses {data.VocabSize} token ids but the model's vocabulary has only {model.VocabSize}");
        if (blockSize > model.MaxSequenceLength)
            throw new ConfigException($"block_size {blockSize} exceeds the model's maximum sequence length {model.MaxSequenceLength}");
    }

    /// <summary>
    /// Scalar float32 training loss of predicting <paramref name="targets"/> (B, T) (entries
    /// <see cref="LanguageModelLoss.IgnoreIndex"/> skipped) from <paramref name="inputIds"/> (B, T). In mixed precision with
    /// a plain matrix head, head and loss are fused (<see cref="LanguageModelLoss.LinearCrossEntropy"/>) so the (B·T, V)
    /// logits never exist in float32.
    /// </summary>
    public static Tensor Loss(CausalLM model, Tensor inputIds, Tensor targets) => Loss(model, new CausalLMInput(inputIds), targets, metrics: null);

    /// <summary>
    /// <see cref="Loss(CausalLM, Tensor, Tensor)"/> for the ids, mask, positions or segments of <paramref name="input"/> (e.g.
    /// packed SFT rows), adding its parts "ce", "mtp" and "aux" to <paramref name="metrics"/> when there is more than the main head's CE.
    /// </summary>
    public static Tensor Loss(CausalLM model, CausalLMInput input, Tensor targets, Dictionary<string, double>? metrics)
    {
        using var scope = NewDisposeScope();
        var head = model.OutputHead;
        bool fused = model.ComputeDType != ScalarType.Float32 && head.IsPlainMatrix && is_grad_enabled();
        bool mtp = model is IMultiTokenPredictor { MtpDepth: > 0, MtpLossWeight: > 0 };
        using var output = model.call(input with { ComputeLogits = !fused, OutputMtp = mtp });
        var h = output.LastHiddenState;                                                                   // (B, T, C)
        var loss = fused
            ? LanguageModelLoss.LinearCrossEntropy(h.reshape(-1, h.shape[^1]), head.Weight, targets.reshape(-1), model.ComputeDType)   // h as (B·T, C)
            : CrossEntropy(output.Logits!, targets);
        bool parts = metrics is not null && ((mtp && output.MtpLogits is { Count: > 0 }) || output.AuxiliaryLosses.Count > 0);
        if (parts) metrics!["ce"] = loss.item<float>();
        if (mtp && output.MtpLogits is { Count: > 0 } mtpLogits)
        {
            var predictor = (IMultiTokenPredictor)model;
            var term = MtpTerm(mtpLogits, targets, predictor.MtpLossWeight, predictor.MtpDepth);
            if (parts) metrics!["mtp"] = term.item<float>();
            loss = loss + term;
        }
        if (parts && output.AuxiliaryLosses.Count > 0) metrics!["aux"] = output.AuxiliaryLosses.Sum(a => (double)a.item<float>());
        foreach (var aux in output.AuxiliaryLosses) loss = loss + aux;
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>(λ/D)·Σ_k CE(logits_k (B, T−k, V), targets shifted by k): depth k at position i predicts targets[i + k].</summary>
    public static Tensor MtpTerm(IReadOnlyList<Tensor> mtpLogits, Tensor targets, double weight, int depth)
    {
        using var scope = NewDisposeScope();
        long t = targets.shape[1];
        Tensor? sum = null;
        for (int k = 1; k <= mtpLogits.Count; k++)
        {
            var ce = CrossEntropy(mtpLogits[k - 1], targets.narrow(1, k, t - k));
            sum = sum is null ? ce : sum + ce;
        }
        return (sum! * (weight / depth)).MoveToOuterDisposeScope();
    }

    /// <summary>Mean cross-entropy of the main output head alone (validation loss and perplexity): no MTP, no auxiliary terms.</summary>
    public static Tensor MainHeadCrossEntropy(CausalLM model, Tensor inputIds, Tensor targets)
    {
        using var scope = NewDisposeScope();
        var logits = model.Logits(inputIds);                                                              // (B, T, V)
        return CrossEntropy(logits, targets).MoveToOuterDisposeScope();
    }

    private static Tensor CrossEntropy(Tensor logits, Tensor targets) =>
        LanguageModelLoss.CrossEntropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1));        // (B·T, V)
}
