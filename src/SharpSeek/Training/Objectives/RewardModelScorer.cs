using SharpSeek.Models;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// The learned reward of RLHF (Ouyang et al. 2022, §3.5): a <see cref="RewardModel"/> scores each rollout's token ids (prompt +
/// response, as the policy saw them) at the last token. Rollouts are right-padded into batches of up to
/// <see cref="BatchSize"/> and scored in eval mode under no_grad; the reward model must share the policy's tokenizer.
/// </summary>
public sealed class RewardModelScorer : IRewardFunction, IDisposable
{
    private readonly bool _owned;

    /// <summary>The reward model.</summary>
    public RewardModel Model { get; }

    /// <summary>Rollouts per forward.</summary>
    public int BatchSize { get; init; } = 16;

    public string Name => "reward_model";

    /// <summary>Scores with <paramref name="model"/> (put in eval mode, requires_grad off); the caller keeps ownership.</summary>
    public RewardModelScorer(RewardModel model) : this(model, owned: false) { }

    private RewardModelScorer(RewardModel model, bool owned)
    {
        Model = model; _owned = owned;
        model.eval();
        foreach (var p in model.parameters()) p.requires_grad = false;
    }

    /// <summary>Loads the reward-model folder <paramref name="directory"/> (see <see cref="RewardModel.Load"/>).</summary>
    public static RewardModelScorer Load(string directory) => new(RewardModel.Load(directory), owned: true);

    public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts)
    {
        var scores = new List<double>(rollouts.Count);
        using var _ = no_grad();
        foreach (var chunk in rollouts.Chunk(BatchSize))
        {
            using var scope = NewDisposeScope();
            int t = chunk.Max(r => r.Ids.Count);
            if (t > Model.MaxSequenceLength)
                throw new ConfigException($"a rollout has {t} tokens, more than the reward model's maximum sequence length {Model.MaxSequenceLength}");
            var ids = new long[chunk.Length * t];
            var mask = new long[chunk.Length * t];
            for (int i = 0; i < chunk.Length; i++)
                for (int j = 0; j < chunk[i].Ids.Count; j++)
                {
                    int id = chunk[i].Ids[j];
                    if (id < 0 || id >= Model.VocabSize)
                        throw new ConfigException($"a rollout holds token id {id}, outside the reward model's vocabulary of {Model.VocabSize} (policy and reward model need one tokenizer)");
                    ids[i * t + j] = id;
                    mask[i * t + j] = 1;
                }
            var rewards = Model.Score(tensor(ids, [chunk.Length, t], device: Model.Device), tensor(mask, [chunk.Length, t], device: Model.Device));
            scores.AddRange(rewards.to(ScalarType.Float64).cpu().data<double>().ToArray());
        }
        return scores;
    }

    public void Dispose() { if (_owned) Model.Dispose(); }
}
