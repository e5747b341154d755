namespace SharpSeek.Training.Objectives;

/// <summary>
/// The adaptive KL controller of Ziegler et al. 2019 ("Fine-Tuning Language Models from Human Preferences", §2.2): after each
/// rollout batch, β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·n/horizon), so β grows while the measured KL is above the target
/// and shrinks while it is below, by at most 20 % per horizon of rollouts. A pure function; <see cref="PpoObjective"/> keeps β.
/// </summary>
public static class KlController
{
    /// <summary>The proportional error's clip (±0.2 in the paper).</summary>
    public const double ErrorClip = 0.2;

    /// <summary>
    /// The next β from <paramref name="beta"/> after a batch of <paramref name="rollouts"/> rollouts whose mean per-sequence
    /// KL to the reference was <paramref name="kl"/>, steering towards <paramref name="target"/> over <paramref name="horizon"/> rollouts.
    /// </summary>
    public static double Update(double beta, double kl, double target, int rollouts, int horizon)
    {
        double error = Math.Clamp(kl / target - 1, -ErrorClip, ErrorClip);
        return beta * (1 + error * rollouts / horizon);
    }
}
