using SharpSeek.Data;
using SharpSeek.Data.Preference;
using SharpSeek.Distributed;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// Direct Preference Optimization (Rafailov et al. 2023, eq. 7): per micro-batch B pairs, chosen and rejected conversations in
/// one padded forward of the policy and, under no_grad, of the frozen reference; sequence log-probabilities summed over the
/// completion tokens only (answer + end-of-turn; never prompt or padding); loss −log σ(β[(log π(c) − log π_ref(c)) −
/// (log π(r) − log π_ref(r))]) plus the policy's auxiliary (MoE balance) losses in training. Metrics: "reward_accuracy",
/// "margin", "chosen_reward", "rejected_reward" (implicit rewards β·(log π − log π_ref), TRL's names); evaluation reports the
/// DPO loss and the same metrics on held-out pairs.
/// </summary>
public sealed class DpoObjective : IObjective
{
    private readonly PreferenceBatches _data;
    private readonly int _batchSize;
    private readonly CausalLM _reference;

    /// <summary>β, the strength of the implicit KL constraint to the reference.</summary>
    public double Beta { get; }

    /// <summary>Trains against <paramref name="reference"/>, which this objective freezes (eval mode, requires_grad off).</summary>
    public DpoObjective(PreferenceBatches data, int batchSize, CausalLM reference, double beta = 0.1)
    {
        if (batchSize < 1) throw new ConfigException($"batch_size must be positive, got {batchSize}");
        if (!(beta > 0)) throw new ConfigException($"DPO beta must be positive, got {beta}");
        _data = data; _batchSize = batchSize; _reference = reference; Beta = beta;
        reference.eval();
        foreach (var p in reference.parameters()) p.requires_grad = false;
    }

    private readonly DataShard _shard = DataShard.Whole;

    /// <summary>
    /// This process's share of every training batch (default: all of it): every rank draws the same B global pairs and trains
    /// on its B/N (a mean over equal numbers of pairs, so the ranks' mean is the global loss); batch_size must split evenly.
    /// </summary>
    public DataShard Shard
    {
        get => _shard;
        init { value.CheckDivisible("batch_size", _batchSize); _shard = value; }
    }

    public IReadOnlyList<CausalLM> FrozenModels => [_reference];

    public void Validate(CausalLM policy)
    {
        if (policy.VocabSize != _reference.VocabSize)
            throw new ConfigException($"the reference model's vocabulary ({_reference.VocabSize} tokens) differs from the policy's ({policy.VocabSize}); DPO needs one vocabulary");
        PreferenceData.Validate(_data, policy);
        PreferenceData.Validate(_data, _reference);
    }

    public ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode)
    {
        var batch = _data.Next(split, _batchSize, _shard);
        Tensor referenceLogps;
        using (no_grad()) referenceLogps = SequenceLogProbs(_reference, batch, out _);       // (2B)
        var policyLogps = SequenceLogProbs(policy, batch, out var aux);                      // (2B)
        int b = batch.Pairs;
        var loss = PreferenceMath.DpoLoss(policyLogps[..b], policyLogps[b..], referenceLogps[..b], referenceLogps[b..], Beta);
        Tensor chosen, rejected;
        using (no_grad())
        {
            chosen = PreferenceMath.ImplicitRewards(policyLogps[..b], referenceLogps[..b], Beta);     // (B)
            rejected = PreferenceMath.ImplicitRewards(policyLogps[b..], referenceLogps[b..], Beta);   // (B)
        }
        var metrics = new Dictionary<string, double>
        {
            ["reward_accuracy"] = PreferenceMath.PairAccuracy(chosen, rejected).item<float>(),
            ["margin"] = PreferenceMath.RewardMargin(chosen, rejected).item<float>(),
            ["chosen_reward"] = chosen.mean().item<float>(),
            ["rejected_reward"] = rejected.mean().item<float>(),
        };
        if (mode == StepMode.Train) foreach (var a in aux) loss = loss + a;
        return new ObjectiveStep(loss, metrics, batch.Tokens);
    }

    /// <summary>
    /// Σ log p(token) over each row's completion tokens, (2B) float32: logits at t predict token t + 1, so the targets are
    /// ids[:, 1:] and the mask completion[:, 1:]; <paramref name="auxiliaryLosses"/> are the model's.
    /// </summary>
    public static Tensor SequenceLogProbs(CausalLM model, PreferenceBatch batch, out IReadOnlyList<Tensor> auxiliaryLosses)
    {
        var output = model.call(new CausalLMInput(batch.Ids) { AttentionMask = batch.AttentionMask });
        auxiliaryLosses = output.AuxiliaryLosses;
        var logits = output.TakeLogits().to(ScalarType.Float32)[.., ..^1];                   // (2B, T−1, V)
        return PreferenceMath.SequenceLogProbs(logits, batch.Ids[.., 1..], batch.CompletionMask[.., 1..]);   // (2B)
    }

    public void Reseed(DataSplit split, ulong seed) => _data.Reseed(split, seed);

    public string SaveState() => _data.SaveState();

    public void RestoreState(string state) => _data.RestoreState(state);
}
