using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>How GRPO's per-token losses are averaged into one number.</summary>
public enum GrpoLossNormalisation
{
    /// <summary>Mean over each completion's tokens, then over completions (DeepSeekMath eq. 3: 1/G Σ_i 1/|o_i| Σ_t).</summary>
    PerSequence,

    /// <summary>Sum over all completion tokens of the batch divided by their count (DAPO, Yu et al. 2025, §3.3): long completions weigh more.</summary>
    PerToken,
}

/// <summary>
/// The maths of GRPO (Shao et al. 2024, "DeepSeekMath", §4.1) as small pure functions: group-relative advantages and the
/// per-token clipped objective with the k3 KL penalty. Masks are (B, T), 1 on completion tokens, 0 on padding.
/// </summary>
public static class GrpoMath
{
    /// <summary>
    /// Group-relative advantages (r − mean) / (std + eps) per group of G completions of one prompt, with the unbiased (n − 1)
    /// standard deviation (DeepSeekMath §4.1.2, outcome supervision); a group of equal rewards gets 0. Rewards (N·G), groups consecutive; (N·G).
    /// With <paramref name="scale"/> false, r − mean only (Dr. GRPO, Liu et al. 2025: the std division favours groups of nearly equal rewards).
    /// </summary>
    public static Tensor Advantages(Tensor rewards, int groupSize, double eps = 1e-4, bool scale = true)
    {
        var r = rewards.view(-1, groupSize);                                               // (N, G)
        var centred = r - r.mean([1L], keepdim: true);
        return (scale ? centred / (r.std(1, keepdim: true) + eps) : centred).view(-1);
    }

    /// <summary>
    /// GRPO's per-token loss (DeepSeekMath eq. 3 with the KL of eq. 4, negated to be minimised):
    /// −[min(ρA, clip(ρ, 1 − ε_low, 1 + ε_high)A) − β·k3] with ρ = exp(log π − log π_old) and
    /// k3 = π_ref/π − log(π_ref/π) − 1. Log-probs (B, T); <paramref name="advantages"/> (B) (one per completion, put on each of its tokens); (B, T).
    /// With <paramref name="k3Clamp"/> &gt; 0 each token's k3 is capped there (<see cref="ClampedK3"/>).
    /// </summary>
    public static Tensor TokenLoss(Tensor logp, Tensor oldLogp, Tensor refLogp, Tensor advantages, double clipLow, double clipHigh, double beta,
        double k3Clamp = 0)
    {
        var surrogate = PolicyGradientMath.ClippedSurrogate(logp, oldLogp, advantages.unsqueeze(-1), clipLow, clipHigh);   // (B, T)
        return beta == 0 ? surrogate : surrogate + beta * ClampedK3(logp, refLogp, k3Clamp);
    }

    /// <summary>
    /// k3 per token capped at <paramref name="clamp"/> (0 = uncapped), as verl's <c>low_var_kl</c> does (it clamps at 10): on a
    /// token the updated policy has made very unlikely, exp(log π_ref − log π) can reach thousands, and one such token's
    /// gradient then outweighs the whole minibatch. A capped token gets no KL gradient. (B, T).
    /// </summary>
    public static Tensor ClampedK3(Tensor logp, Tensor refLogp, double clamp)
    {
        var k3 = PolicyGradientMath.KlK3(logp, refLogp);
        return clamp > 0 ? k3.clamp_max(clamp) : k3;
    }

    /// <summary>Averages per-token losses (B, T) over the completion tokens of <paramref name="mask"/> (B, T) as <paramref name="normalisation"/> says; scalar.</summary>
    public static Tensor Reduce(Tensor tokenLoss, Tensor mask, GrpoLossNormalisation normalisation) => normalisation switch
    {
        GrpoLossNormalisation.PerSequence => PolicyGradientMath.MaskedRowMean(tokenLoss, mask).mean(),
        GrpoLossNormalisation.PerToken => PolicyGradientMath.MaskedMean(tokenLoss, mask),
        _ => throw new ArgumentOutOfRangeException(nameof(normalisation)),
    };
}
