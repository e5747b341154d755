using SharpSeek.Data.Tasks;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// Rule-based reward (DeepSeek-AI 2025, R1's accuracy reward): 1 when the response's final answer (<c>#### 72</c>,
/// <c>\boxed{72}</c> or <c>&lt;answer&gt;72&lt;/answer&gt;</c>) equals the rollout's expected answer, else 0
/// (<see cref="Reward.Correctness"/>). Every rollout must carry an answer.
/// </summary>
public sealed class CorrectnessReward : IRewardFunction
{
    public string Name => "correctness";

    public IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts) =>
        rollouts.Select((r, i) => r.Answer is { } answer
            ? Reward.Correctness(r.Response, answer)
            : throw new DataException($"the correctness reward needs an expected answer, and rollout {i} (prompt '{Short(r.Prompt)}') has none")).ToList();

    private static string Short(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
