using System.Text.Json.Serialization;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// RLHF with PPO settings (the <c>ppo</c> section of a training config; names as TRL's PPOConfig where one exists).
/// One rollout batch of <see cref="RolloutBatchSize"/> responses is reused for <see cref="PpoEpochs"/> passes in shuffled
/// minibatches of <see cref="MiniBatchSize"/>; each trainer micro-batch is one minibatch.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PpoConfig
{
    /// <summary>JSONL file of prompts to roll out: <c>{"prompt": "…", "answer": "…"}</c> per line (answer optional).</summary>
    [JsonPropertyName("prompts")] public string Prompts { get; init; } = "";

    /// <summary>Held-out prompts for evaluation (same format); null = evaluate on the training prompts.</summary>
    [JsonPropertyName("eval_prompts")] public string? EvalPrompts { get; init; }

    /// <summary>"correctness" (rule-based, needs every prompt's answer) or "model" (a learned reward model, <see cref="RewardModel"/>).</summary>
    [JsonPropertyName("reward")] public string Reward { get; init; } = "correctness";

    /// <summary>Reward-model folder when <see cref="Reward"/> is "model".</summary>
    [JsonPropertyName("reward_model")] public string? RewardModel { get; init; }

    /// <summary>Responses sampled per rollout batch.</summary>
    [JsonPropertyName("rollout_batch_size")] public int RolloutBatchSize { get; init; } = 64;

    /// <summary>Responses per optimisation minibatch (one trainer micro-batch).</summary>
    [JsonPropertyName("mini_batch_size")] public int MiniBatchSize { get; init; } = 16;

    /// <summary>Passes over each rollout batch.</summary>
    [JsonPropertyName("ppo_epochs")] public int PpoEpochs { get; init; } = 4;

    /// <summary>Longest response in tokens (end-of-turn included).</summary>
    [JsonPropertyName("max_new_tokens")] public int MaxNewTokens { get; init; } = 20;

    /// <summary>Sampling temperature of the rollouts (&gt; 0).</summary>
    [JsonPropertyName("temperature")] public double Temperature { get; init; } = 1.0;

    /// <summary>Top-k of the rollouts; 0 = the full distribution (PPO's importance ratios assume the policy's own distribution).</summary>
    [JsonPropertyName("top_k")] public int TopK { get; init; }

    /// <summary>Evaluation decoding: 0 = greedy, else sampling at this temperature.</summary>
    [JsonPropertyName("eval_temperature")] public double EvalTemperature { get; init; }

    /// <summary>Prompts per evaluation batch.</summary>
    [JsonPropertyName("eval_batch_size")] public int EvalBatchSize { get; init; } = 64;

    /// <summary>β: weight of the per-token KL penalty to the reference (the start value when <see cref="TargetKl"/> is set).</summary>
    [JsonPropertyName("kl_coef")] public double KlCoef { get; init; } = 0.05;

    /// <summary>KL estimator of the penalty: "k1" (log π − log π_ref, TRL's default) or "k3" (Schulman 2020, never negative).</summary>
    [JsonPropertyName("kl_estimator")] public string KlEstimator { get; init; } = "k1";

    /// <summary>Target of the adaptive KL controller (Ziegler et al. 2019): the mean per-sequence KL β steers towards; 0 = fixed β.</summary>
    [JsonPropertyName("target_kl")] public double TargetKl { get; init; }

    /// <summary>Horizon of the adaptive KL controller, in rollouts (Ziegler et al. use 10000).</summary>
    [JsonPropertyName("kl_horizon")] public int KlHorizon { get; init; } = 10000;

    /// <summary>Early stop: when a minibatch's approx-KL to the rollout policy exceeds this, the rest of the rollout batch is dropped; 0 = off.</summary>
    [JsonPropertyName("max_approx_kl")] public double MaxApproxKl { get; init; }

    /// <summary>Discount γ of GAE.</summary>
    [JsonPropertyName("gamma")] public double Gamma { get; init; } = 1.0;

    /// <summary>λ of GAE.</summary>
    [JsonPropertyName("lam")] public double Lam { get; init; } = 0.95;

    /// <summary>ε of the clipped policy loss.</summary>
    [JsonPropertyName("cliprange")] public double ClipRange { get; init; } = 0.2;

    /// <summary>ε of the clipped value loss.</summary>
    [JsonPropertyName("cliprange_value")] public double ClipRangeValue { get; init; } = 0.2;

    /// <summary>Weight of the value loss.</summary>
    [JsonPropertyName("vf_coef")] public double VfCoef { get; init; } = 0.1;

    /// <summary>Weight of the entropy bonus (subtracted from the loss); 0 = none.</summary>
    [JsonPropertyName("entropy_coef")] public double EntropyCoef { get; init; }

    /// <summary>Whiten the advantages over each rollout batch.</summary>
    [JsonPropertyName("whiten_advantages")] public bool WhitenAdvantages { get; init; } = true;

    /// <summary>Subtracted from the score of a response that does not end with the end-of-turn token (TRL's missing_eos_penalty); 0 = none.</summary>
    [JsonPropertyName("missing_eot_penalty")] public double MissingEotPenalty { get; init; }

    /// <summary>The value head reads the hidden state detached: the value loss does not move the policy's trunk.</summary>
    [JsonPropertyName("detach_value_head")] public bool DetachValueHead { get; init; }

    /// <summary>Optimizer steps per rollout batch, at <paramref name="gradAccum"/> minibatches per step (rounded up).</summary>
    public int StepsPerRollout(int gradAccum) => (PpoEpochs * MiniBatchesPerEpoch + gradAccum - 1) / gradAccum;

    /// <summary>Minibatches in one pass over a rollout batch.</summary>
    [JsonIgnore] public int MiniBatchesPerEpoch => (RolloutBatchSize + MiniBatchSize - 1) / MiniBatchSize;

    private static void Check(bool ok, string message) { if (!ok) throw new ConfigException(message); }

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field (the files and reward of the verb included).</summary>
    public void Validate()
    {
        Check(Prompts.Length > 0, "ppo.prompts must name a JSONL file");
        Check(Reward is "correctness" or "model", $"ppo.reward must be correctness or model, got '{Reward}'");
        Check(Reward != "model" || !string.IsNullOrEmpty(RewardModel), "ppo.reward model needs ppo.reward_model (a reward-model folder)");
        ValidateSettings();
    }

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid algorithm setting (all but the files and the reward, which a library caller passes itself).</summary>
    public void ValidateSettings()
    {
        Check(RolloutBatchSize > 0, $"ppo.rollout_batch_size must be positive, got {RolloutBatchSize}");
        Check(MiniBatchSize > 0 && MiniBatchSize <= RolloutBatchSize, $"ppo.mini_batch_size must be in [1, rollout_batch_size], got {MiniBatchSize}");
        Check(PpoEpochs > 0, $"ppo.ppo_epochs must be positive, got {PpoEpochs}");
        Check(MaxNewTokens > 0, $"ppo.max_new_tokens must be positive, got {MaxNewTokens}");
        Check(Temperature > 0 && double.IsFinite(Temperature), $"ppo.temperature must be positive, got {Temperature}");
        Check(TopK >= 0, $"ppo.top_k must be 0 (off) or positive, got {TopK}");
        Check(EvalTemperature >= 0 && double.IsFinite(EvalTemperature), $"ppo.eval_temperature must be 0 (greedy) or positive, got {EvalTemperature}");
        Check(EvalBatchSize > 0, $"ppo.eval_batch_size must be positive, got {EvalBatchSize}");
        Check(KlCoef >= 0 && double.IsFinite(KlCoef), $"ppo.kl_coef must be 0 or positive, got {KlCoef}");
        Check(KlEstimator is "k1" or "k3", $"ppo.kl_estimator must be k1 or k3, got '{KlEstimator}'");
        Check(TargetKl >= 0 && double.IsFinite(TargetKl), $"ppo.target_kl must be 0 (fixed kl_coef) or positive, got {TargetKl}");
        Check(TargetKl == 0 || KlCoef > 0, "ppo.target_kl needs a positive kl_coef to adapt");
        Check(KlHorizon > 0, $"ppo.kl_horizon must be positive, got {KlHorizon}");
        Check(MaxApproxKl >= 0 && double.IsFinite(MaxApproxKl), $"ppo.max_approx_kl must be 0 (off) or positive, got {MaxApproxKl}");
        Check(Gamma is >= 0 and <= 1, $"ppo.gamma must be in [0, 1], got {Gamma}");
        Check(Lam is >= 0 and <= 1, $"ppo.lam must be in [0, 1], got {Lam}");
        Check(ClipRange > 0 && double.IsFinite(ClipRange), $"ppo.cliprange must be positive, got {ClipRange}");
        Check(ClipRangeValue > 0 && double.IsFinite(ClipRangeValue), $"ppo.cliprange_value must be positive, got {ClipRangeValue}");
        Check(VfCoef >= 0 && double.IsFinite(VfCoef), $"ppo.vf_coef must be 0 or positive, got {VfCoef}");
        Check(EntropyCoef >= 0 && double.IsFinite(EntropyCoef), $"ppo.entropy_coef must be 0 or positive, got {EntropyCoef}");
        Check(MissingEotPenalty >= 0 && double.IsFinite(MissingEotPenalty), $"ppo.missing_eot_penalty must be 0 or positive, got {MissingEotPenalty}");
    }
}
