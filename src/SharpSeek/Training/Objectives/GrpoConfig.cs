using System.Text.Json.Serialization;

namespace SharpSeek.Training.Objectives;

/// <summary>One stage of a GRPO curriculum: its prompt file, for how many optimizer steps, and an optional name for logs.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record GrpoStage
{
    /// <summary>JSONL prompt file of this stage (the format of <see cref="GrpoConfig.Prompts"/>).</summary>
    [JsonPropertyName("prompts")] public string Prompts { get; init; } = "";

    /// <summary>Optimizer steps of this stage; the last stage goes on while max_steps asks for more.</summary>
    [JsonPropertyName("steps")] public int Steps { get; init; }

    /// <summary>Name for logs; null = "stage i".</summary>
    [JsonPropertyName("name")] public string? Name { get; init; }
}

/// <summary>
/// GRPO settings (the <c>grpo</c> section of a training config; Shao et al. 2024, DeepSeekMath §4.1; names as TRL's GRPOConfig
/// where one exists). A rollout batch is <see cref="PromptsPerStep"/> prompts × <see cref="GroupSize"/> completions, used for
/// <see cref="Mu"/> passes in shuffled minibatches of <see cref="MiniBatchSize"/> completions; each trainer micro-batch is one minibatch.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record GrpoConfig
{
    /// <summary>JSONL prompt file: <c>{"prompt": "…", "answer": "…", "task": "countdown"}</c> per line (answer, task optional). Absent with <see cref="Stages"/>.</summary>
    [JsonPropertyName("prompts")] public string? Prompts { get; init; }

    /// <summary>Held-out prompts for evaluation (same format); null = evaluate on the (first stage's) training prompts.</summary>
    [JsonPropertyName("eval_prompts")] public string? EvalPrompts { get; init; }

    /// <summary>Curriculum: prompt files used one after another for their step counts; replaces <see cref="Prompts"/>.</summary>
    [JsonPropertyName("stages")] public IReadOnlyList<GrpoStage>? Stages { get; init; }

    /// <summary>"auto" (chat when the tokenizer has the chat template's special tokens), "plain" (question + newline, stop at a blank line) or "chat".</summary>
    [JsonPropertyName("prompt_format")] public string PromptFormat { get; init; } = "auto";

    /// <summary>G: completions sampled per prompt (the group the advantages are relative to).</summary>
    [JsonPropertyName("group_size")] public int GroupSize { get; init; } = 8;

    /// <summary>Prompts per rollout batch.</summary>
    [JsonPropertyName("prompts_per_step")] public int PromptsPerStep { get; init; } = 8;

    /// <summary>μ: passes over each rollout batch (DeepSeekMath's GRPO iterations per batch).</summary>
    [JsonPropertyName("mu")] public int Mu { get; init; } = 1;

    /// <summary>Completions per optimisation minibatch (one trainer micro-batch); 0 = the whole rollout batch.</summary>
    [JsonPropertyName("mini_batch_size")] public int MiniBatchSize { get; init; }

    /// <summary>ε_low of the clipped ratio (clip(ρ, 1 − ε_low, 1 + ε_high)).</summary>
    [JsonPropertyName("clip_low")] public double ClipLow { get; init; } = 0.2;

    /// <summary>ε_high of the clipped ratio (DAPO's clip-higher uses 0.28).</summary>
    [JsonPropertyName("clip_high")] public double ClipHigh { get; init; } = 0.2;

    /// <summary>β of the k3 KL penalty to the frozen reference; 0 = no reference (no reference forward at all).</summary>
    [JsonPropertyName("beta")] public double Beta { get; init; } = 0.04;

    /// <summary>Cap on each token's k3 KL term (verl's low_var_kl uses 10); 0 = uncapped, as DeepSeekMath. See <see cref="GrpoMath.ClampedK3"/>.</summary>
    [JsonPropertyName("k3_clamp")] public double K3Clamp { get; init; }

    /// <summary>"sequence" (mean over each completion's tokens, then completions: DeepSeekMath eq. 3) or "token" (over all tokens of the minibatch: DAPO).</summary>
    [JsonPropertyName("loss_normalisation")] public string LossNormalisation { get; init; } = "sequence";

    /// <summary>true: advantages (r − mean)/(std + ε) (GRPO); false: r − mean (Dr. GRPO, Liu et al. 2025).</summary>
    [JsonPropertyName("scale_rewards")] public bool ScaleRewards { get; init; } = true;

    /// <summary>Longest completion in tokens (the end-of-turn or stop token included).</summary>
    [JsonPropertyName("max_new_tokens")] public int MaxNewTokens { get; init; } = 64;

    /// <summary>Sampling temperature of the rollouts (&gt; 0).</summary>
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 1.0;

    /// <summary>Top-k of the rollouts; 0 = the full distribution.</summary>
    [JsonPropertyName("top_k")] public int TopK { get; init; }

    /// <summary>Reward functions and their weights: "accuracy" (strict tagged answer), "format" (R1's think/answer layout), "correctness" (lenient final answer).</summary>
    [JsonPropertyName("rewards")] public IReadOnlyDictionary<string, double> Rewards { get; init; } = new Dictionary<string, double> { ["accuracy"] = 1.0, ["format"] = 0.1 };

    /// <summary>Evaluation decoding: 0 = greedy, else sampling at this temperature.</summary>
    [JsonPropertyName("eval_temperature")] public double EvalTemperature { get; init; }

    /// <summary>Prompts per evaluation batch (one completion each).</summary>
    [JsonPropertyName("eval_batch_size")] public int EvalBatchSize { get; init; } = 64;

    /// <summary>Completions per rollout batch, prompts_per_step · G.</summary>
    [JsonIgnore] public int RolloutBatchSize => PromptsPerStep * GroupSize;

    /// <summary>Completions per minibatch (mini_batch_size, or the whole rollout batch when 0).</summary>
    [JsonIgnore] public int EffectiveMiniBatchSize => MiniBatchSize == 0 ? RolloutBatchSize : MiniBatchSize;

    /// <summary>Minibatches (trainer micro-batches) per rollout batch: μ passes of ⌈N·G / mini_batch_size⌉.</summary>
    [JsonIgnore] public int MiniBatchesPerRollout => Mu * ((RolloutBatchSize + EffectiveMiniBatchSize - 1) / EffectiveMiniBatchSize);

    /// <summary>The loss normalisation as the enum of <see cref="GrpoMath.Reduce"/>.</summary>
    [JsonIgnore] public GrpoLossNormalisation Normalisation => LossNormalisation == "token" ? GrpoLossNormalisation.PerToken : GrpoLossNormalisation.PerSequence;

    private static void Check(bool ok, string message) { if (!ok) throw new ConfigException(message); }

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field (the prompt files included).</summary>
    public void Validate()
    {
        if (Stages is { } stages)
        {
            Check(Prompts is null, "grpo.stages and grpo.prompts are both set: give the prompt files in the stages only");
            Check(stages.Count > 0, "grpo.stages must list at least one stage");
            for (int i = 0; i < stages.Count; i++)
            {
                Check(stages[i] is not null && stages[i].Prompts.Length > 0, $"grpo.stages[{i}].prompts must name a JSONL file");
                Check(stages[i].Steps > 0, $"grpo.stages[{i}].steps must be positive, got {stages[i].Steps}");
            }
        }
        else Check(!string.IsNullOrEmpty(Prompts), "grpo.prompts must name a JSONL file (or give grpo.stages)");
        ValidateSettings();
    }

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid algorithm setting (all but the files).</summary>
    public void ValidateSettings()
    {
        Check(PromptFormat is "auto" or "plain" or "chat", $"grpo.prompt_format must be auto, plain or chat, got '{PromptFormat}'");
        Check(GroupSize >= 2, $"grpo.group_size must be at least 2 (advantages compare completions of one prompt), got {GroupSize}");
        Check(PromptsPerStep > 0, $"grpo.prompts_per_step must be positive, got {PromptsPerStep}");
        Check(Mu > 0, $"grpo.mu must be positive, got {Mu}");
        Check(MiniBatchSize >= 0 && MiniBatchSize <= RolloutBatchSize,
            $"grpo.mini_batch_size must be 0 (the whole batch) or in [1, prompts_per_step · group_size = {RolloutBatchSize}], got {MiniBatchSize}");
        Check(ClipLow > 0 && ClipLow < 1, $"grpo.clip_low must be in (0, 1), got {ClipLow}");
        Check(ClipHigh > 0 && double.IsFinite(ClipHigh), $"grpo.clip_high must be positive, got {ClipHigh}");
        Check(K3Clamp >= 0 && double.IsFinite(K3Clamp), $"grpo.k3_clamp must be 0 (uncapped) or positive, got {K3Clamp}");
        Check(Beta >= 0 && double.IsFinite(Beta), $"grpo.beta must be 0 (no reference) or positive, got {Beta}");
        Check(LossNormalisation is "sequence" or "token", $"grpo.loss_normalisation must be sequence or token, got '{LossNormalisation}'");
        Check(MaxNewTokens > 0, $"grpo.max_new_tokens must be positive, got {MaxNewTokens}");
        Check(Temperature > 0 && double.IsFinite(Temperature), $"grpo.temperature must be positive, got {Temperature}");
        Check(TopK >= 0, $"grpo.top_k must be 0 (off) or positive, got {TopK}");
        Check(EvalTemperature >= 0 && double.IsFinite(EvalTemperature), $"grpo.eval_temperature must be 0 (greedy) or positive, got {EvalTemperature}");
        Check(EvalBatchSize > 0, $"grpo.eval_batch_size must be positive, got {EvalBatchSize}");
        Check(Rewards is { Count: > 0 }, "grpo.rewards must name at least one reward, e.g. {\"accuracy\": 1.0}");
        foreach (var (name, weight) in Rewards)
        {
            Check(WeightedRewards.KnownNames.Contains(name), $"grpo.rewards: unknown reward '{name}' (known: {string.Join(", ", WeightedRewards.KnownNames)})");
            Check(weight >= 0 && double.IsFinite(weight), $"grpo.rewards.{name} must be a weight ≥ 0, got {weight}");
        }
        Check(Rewards.Values.Any(w => w > 0), "grpo.rewards: at least one weight must be positive");
    }
}
