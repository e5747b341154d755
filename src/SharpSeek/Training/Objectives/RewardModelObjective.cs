using SharpSeek.Data;
using SharpSeek.Data.Preference;
using SharpSeek.Distributed;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// Reward-model training on preference pairs (Ouyang et al. 2022, §3.5, eq. 1): per micro-batch B pairs, chosen and rejected
/// conversations scored in one padded forward of a <see cref="RewardModel"/> (the policy), loss = Bradley–Terry
/// −log σ(r_c − r_r) averaged over pairs, plus the trunk's auxiliary (MoE balance) losses in training. Metrics: "accuracy"
/// (pairs ranked right) and "margin" (mean r_c − r_r); evaluation reports the same on held-out pairs (val_loss = the BT loss).
/// </summary>
public sealed class RewardModelObjective : IObjective
{
    private readonly PreferenceBatches _data;
    private readonly int _batchSize;

    /// <summary>Trains on <paramref name="data"/>, <paramref name="batchSize"/> pairs (2·B sequences) per micro-batch.</summary>
    public RewardModelObjective(PreferenceBatches data, int batchSize)
    {
        if (batchSize < 1) throw new ConfigException($"batch_size must be positive, got {batchSize}");
        _data = data; _batchSize = batchSize;
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

    public IReadOnlyList<CausalLM> FrozenModels => [];

    public void Validate(CausalLM policy)
    {
        AsRewardModel(policy);
        PreferenceData.Validate(_data, policy);
    }

    public ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode)
    {
        var model = AsRewardModel(policy);
        var batch = _data.Next(split, _batchSize, _shard);
        var rewards = model.Score(batch.Ids, batch.AttentionMask, out var aux);             // (2B)
        var (chosen, rejected) = (rewards[..batch.Pairs], rewards[batch.Pairs..]);          // (B), (B)
        var loss = PreferenceMath.BradleyTerryLoss(chosen, rejected);
        var metrics = new Dictionary<string, double>
        {
            ["accuracy"] = PreferenceMath.PairAccuracy(chosen, rejected).item<float>(),
            ["margin"] = PreferenceMath.RewardMargin(chosen, rejected).item<float>(),
        };
        if (mode == StepMode.Train) foreach (var a in aux) loss = loss + a;
        return new ObjectiveStep(loss, metrics, batch.Tokens);
    }

    /// <summary>Number of held-out pairs.</summary>
    public int HeldOutCount => _data.Pairs(DataSplit.Val).Count;

    /// <summary>Share of all held-out pairs <paramref name="model"/> ranks right (each pair once), in eval mode under no_grad.</summary>
    public double HeldOutAccuracy(RewardModel model)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            int right = 0, total = 0;
            foreach (var chunk in _data.Chunks(DataSplit.Val, _batchSize))
            {
                using var scope = NewDisposeScope();
                var batch = PreferenceBatch.Collate(chunk);
                var rewards = model.Score(batch.Ids, batch.AttentionMask);
                right += (int)rewards[..batch.Pairs].gt(rewards[batch.Pairs..]).sum().item<long>();
                total += batch.Pairs;
            }
            return (double)right / total;
        }
        finally { model.train(wasTraining); }
    }

    public void Reseed(DataSplit split, ulong seed) => _data.Reseed(split, seed);

    public string SaveState() => _data.SaveState();

    public void RestoreState(string state) => _data.RestoreState(state);

    private static RewardModel AsRewardModel(CausalLM policy) => policy as RewardModel
        ?? throw new ConfigException($"the reward-model objective trains a reward model (a causal LM with a score head), got a plain {policy.ModelType} model");
}
