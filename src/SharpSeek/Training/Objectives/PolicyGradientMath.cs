using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// The maths of RLHF with PPO as small pure functions over (B, T) response tensors: token log-probabilities, KL estimators,
/// per-token rewards, GAE, advantage whitening, the clipped policy and value losses, entropy and explained variance.
/// Masks are (B, T), 1 (or true) on valid response tokens and 0 on padding; every mean is over valid tokens only, and the
/// valid tokens of a row are assumed to be a prefix of it (right padding). Any float dtype; the result has the inputs'.
/// </summary>
public static class PolicyGradientMath
{
    /// <summary>Mean of <paramref name="x"/> over the positions where <paramref name="mask"/> is set (0 when none is); scalar.</summary>
    public static Tensor MaskedMean(Tensor x, Tensor mask)                                  // x, mask: same shape
    {
        var m = mask.to(x.dtype);
        return (x * m).sum() / m.sum().clamp_min(1);
    }

    /// <summary>Per-row mean of <paramref name="x"/> (B, T) over its valid tokens (0 for a row with none); (B).</summary>
    public static Tensor MaskedRowMean(Tensor x, Tensor mask)                               // x, mask: (B, T)
    {
        var m = mask.to(x.dtype);
        return (x * m).sum(-1) / m.sum(-1).clamp_min(1);                                   // (B)
    }

    /// <summary>Masked variance (population, divided by n) of <paramref name="x"/> over the valid positions; scalar.</summary>
    public static Tensor MaskedVariance(Tensor x, Tensor mask)
    {
        var centred = x - MaskedMean(x, mask);
        return MaskedMean(centred * centred, mask);
    }

    /// <summary>
    /// log p(target_t) under softmax(<paramref name="logits"/>) at every position: logits (B, T, V) already aligned with
    /// <paramref name="targets"/> (B, T) (logits at t predict target t). Negative targets (e.g. −100 on padding) read id 0
    /// and must be masked by the caller. Computed in the logits' dtype; (B, T).
    /// </summary>
    public static Tensor TokenLogProbs(Tensor logits, Tensor targets)
    {
        var logp = logits.log_softmax(-1);                                                 // (B, T, V)
        return logp.gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1);            // (B, T)
    }

    /// <summary>KL estimator k1 = log π − log π_ref per token (Schulman 2020, "Approximating KL Divergence"): unbiased, high variance, can be negative.</summary>
    public static Tensor KlK1(Tensor logp, Tensor refLogp) => logp - refLogp;              // (B, T)

    /// <summary>KL estimator k2 = ½ (log π − log π_ref)² per token (Schulman 2020): biased, low variance, never negative.</summary>
    public static Tensor KlK2(Tensor logp, Tensor refLogp)                                 // (B, T)
    {
        var d = logp - refLogp;
        return 0.5 * d * d;
    }

    /// <summary>
    /// KL estimator k3 = (r − 1) − log r with r = π_ref / π per token (Schulman 2020): unbiased for KL(π ‖ π_ref) under samples
    /// from π, low variance, never negative; the form DeepSeekMath's GRPO uses (Shao et al. 2024, eq. 4).
    /// </summary>
    public static Tensor KlK3(Tensor logp, Tensor refLogp)                                 // (B, T)
    {
        var logRatio = refLogp - logp;                                                     // log(π_ref / π)
        return logRatio.exp() - 1 - logRatio;
    }

    /// <summary>
    /// Per-token RLHF rewards (Ouyang et al. 2022, InstructGPT; Ziegler et al. 2019): −β·kl_t on every valid token plus the
    /// reward model's <paramref name="scores"/> (B) added at each row's last valid token; 0 on padding and on rows with no valid token.
    /// </summary>
    public static Tensor TokenRewards(Tensor scores, Tensor kl, Tensor mask, double beta)  // scores: (B); kl, mask: (B, T)
    {
        var m = mask.to(kl.dtype);                                                         // (B, T)
        long t = kl.shape[1];
        var positions = arange(1, t + 1, dtype: kl.dtype, device: kl.device);             // (T) 1..T
        var last = (m * positions).argmax(-1, keepdim: true);                              // (B, 1) index of the last valid token
        var hasAny = m.amax([-1L], keepdim: true);                                         // (B, 1) 1 if the row has a valid token
        var atLast = zeros_like(kl).scatter(-1, last, scores.to(kl.dtype).unsqueeze(-1) * hasAny);   // (B, T)
        return (-beta * kl + atLast) * m;
    }

    /// <summary>
    /// Generalised advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous Control Using GAE"):
    /// δ_t = r_t + γ V_{t+1} − V_t, A_t = δ_t + γλ A_{t+1}, with V and A taken as 0 after a row's last valid token (the episode
    /// ends there, nothing is bootstrapped). Returns = A + V. Both (B, T), 0 on padding.
    /// </summary>
    public static (Tensor Advantages, Tensor Returns) Gae(Tensor rewards, Tensor values, Tensor mask, double gamma, double lambda)
    {
        var m = mask.to(values.dtype);                                                     // (B, T)
        var r = rewards * m;
        var v = values * m;
        long t = rewards.shape[1];
        var next = zeros_like(v.select(1, 0));                                             // (B) A_{t+1}
        var columns = new Tensor[t];
        for (long i = t - 1; i >= 0; i--)
        {
            var nextValue = i + 1 < t ? v.select(1, i + 1) : zeros_like(next);            // (B), 0 past the end / padding
            var nextMask = i + 1 < t ? m.select(1, i + 1) : zeros_like(next);
            var delta = r.select(1, i) + gamma * nextValue - v.select(1, i);
            next = (delta + gamma * lambda * nextMask * next) * m.select(1, i);
            columns[i] = next;
        }
        var advantages = stack(columns, 1);                                                // (B, T)
        return (advantages, (advantages + v) * m);
    }

    /// <summary>
    /// Whitens <paramref name="x"/> (B, T) over its valid tokens: (x − mean)/sqrt(var + eps) with the population variance;
    /// with <paramref name="shiftMean"/> false the mean is added back (as TRL's masked_whiten). 0 on padding.
    /// </summary>
    public static Tensor Whiten(Tensor x, Tensor mask, bool shiftMean = true, double eps = 1e-8)
    {
        var mean = MaskedMean(x, mask);
        var whitened = (x - mean) * (MaskedVariance(x, mask) + eps).rsqrt();
        if (!shiftMean) whitened = whitened + mean;
        return whitened * mask.to(x.dtype);
    }

    /// <summary>
    /// PPO's clipped surrogate per token, as a loss (Schulman et al. 2017, eq. 7): −min(ρA, clip(ρ, 1 − ε_low, 1 + ε_high)A)
    /// with ρ = exp(log π − log π_old). <paramref name="advantages"/> is (B, T) or (B, 1) (one per sequence, broadcast); (B, T).
    /// </summary>
    public static Tensor ClippedSurrogate(Tensor logp, Tensor oldLogp, Tensor advantages, double clipLow, double clipHigh)
    {
        var ratio = (logp - oldLogp).exp();                                                // (B, T) ρ
        var unclipped = ratio * advantages;
        var clipped = ratio.clamp(1 - clipLow, 1 + clipHigh) * advantages;
        return -minimum(unclipped, clipped);
    }

    /// <summary>
    /// PPO's clipped policy loss (Schulman et al. 2017, eq. 7) as the masked mean over valid tokens of
    /// <see cref="ClippedSurrogate"/> with ε_low = ε_high = <paramref name="clip"/>, and the clip fraction: the share of
    /// valid tokens where the clipped term is the one taken (strictly smaller than ρA). Both scalars.
    /// </summary>
    public static (Tensor Loss, Tensor ClipFraction) ClippedPolicyLoss(Tensor logp, Tensor oldLogp, Tensor advantages, Tensor mask, double clip)
    {
        var ratio = (logp - oldLogp).exp();                                                // (B, T)
        var unclipped = ratio * advantages;
        var clipped = ratio.clamp(1 - clip, 1 + clip) * advantages;
        var loss = MaskedMean(-minimum(unclipped, clipped), mask);
        var clipFraction = MaskedMean(clipped.lt(unclipped).to(logp.dtype), mask);
        return (loss, clipFraction);
    }

    /// <summary>
    /// PPO's clipped value loss as in OpenAI baselines' ppo2 and TRL: 0.5 · masked mean of max((V − R)², (V_clip − R)²) with
    /// V_clip = V_old + clip(V − V_old, −ε, ε), and the share of valid tokens where the clipped error is the larger. Scalars.
    /// </summary>
    public static (Tensor Loss, Tensor ClipFraction) ClippedValueLoss(Tensor values, Tensor oldValues, Tensor returns, Tensor mask, double clip)
    {
        var clippedValues = oldValues + (values - oldValues).clamp(-clip, clip);           // (B, T)
        var unclippedError = (values - returns).square();
        var clippedError = (clippedValues - returns).square();
        var loss = 0.5 * MaskedMean(maximum(unclippedError, clippedError), mask);
        var clipFraction = MaskedMean(clippedError.gt(unclippedError).to(values.dtype), mask);
        return (loss, clipFraction);
    }

    /// <summary>Mean entropy −Σ_v p log p of softmax(<paramref name="logits"/>) (B, T, V) over the valid tokens of <paramref name="mask"/> (B, T); scalar.</summary>
    public static Tensor Entropy(Tensor logits, Tensor mask)
    {
        var logp = logits.log_softmax(-1);                                                 // (B, T, V)
        var entropy = -(logp.exp() * logp).sum(-1);                                        // (B, T)
        return MaskedMean(entropy, mask);
    }

    /// <summary>
    /// Explained variance 1 − Var(R − V) / Var(R) of the value predictions over valid tokens (1 = perfect, 0 = no better than the
    /// mean, negative = worse); NaN when the returns do not vary (as Stable-Baselines3). Scalar.
    /// </summary>
    public static Tensor ExplainedVariance(Tensor values, Tensor returns, Tensor mask)
    {
        var varReturns = MaskedVariance(returns, mask);
        var ratio = MaskedVariance(returns - values, mask) / varReturns;
        return where(varReturns.eq(0), full_like(varReturns, double.NaN), 1 - ratio);
    }
}
