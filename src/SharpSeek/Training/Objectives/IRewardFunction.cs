namespace SharpSeek.Training.Objectives;

/// <summary>
/// One sampled response to score: the prompt as rendered text and the response text (decoded, without the end-of-turn
/// token), the expected answer when the prompt source has one (rule-based rewards), and the token ids the policy saw:
/// <paramref name="Ids"/> = prompt tokens then response tokens (end-of-turn included when generated), the first
/// <paramref name="PromptLength"/> being the prompt.
/// </summary>
public sealed record Rollout(string Prompt, string Response, string? Answer, IReadOnlyList<int> Ids, int PromptLength)
{
    /// <summary>Response tokens (those after the prompt).</summary>
    public int ResponseLength => Ids.Count - PromptLength;

    /// <summary>The task generator whose rule checks the answer (e.g. "countdown", <see cref="SharpSeek.Data.Prompts.PromptExample.Task"/>); null = compare with <see cref="Answer"/>.</summary>
    public string? Task { get; init; }
}

/// <summary>
/// The reward of complete responses, one scalar per rollout (RLHF: a learned reward model, Ouyang et al. 2022; R1-style:
/// rules over the text, DeepSeek-AI 2025). PPO and GRPO call it on every batch of rollouts under no_grad.
/// </summary>
public interface IRewardFunction
{
    /// <summary>Short name for logs ("reward_model", "correctness", …).</summary>
    string Name { get; }

    /// <summary>One reward per rollout, in order.</summary>
    IReadOnlyList<double> Score(IReadOnlyList<Rollout> rollouts);
}
