using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// The maths of learning from preference pairs (prompt, chosen, rejected) as small pure functions: the Bradley–Terry loss of a
/// reward model and DPO's loss, implicit rewards and their accuracy and margin. Every argument is one value per pair, (B).
/// </summary>
public static class PreferenceMath
{
    /// <summary>
    /// Bradley–Terry loss of a reward model (Bradley &amp; Terry 1952; Ouyang et al. 2022, eq. 1): mean over pairs of
    /// −log σ(r_c − r_r) on the scalar rewards of the chosen and rejected completions; scalar.
    /// </summary>
    public static Tensor BradleyTerryLoss(Tensor chosenRewards, Tensor rejectedRewards)  // (B), (B)
        => -nn.functional.logsigmoid(chosenRewards - rejectedRewards).mean();

    /// <summary>Share of pairs whose chosen completion scores strictly higher than the rejected one (a tie counts as wrong); scalar in [0, 1].</summary>
    public static Tensor PairAccuracy(Tensor chosenRewards, Tensor rejectedRewards)      // (B), (B)
        => chosenRewards.gt(rejectedRewards).to(chosenRewards.dtype).mean();

    /// <summary>
    /// Sum of log p(target_t) over the completion tokens of each row: logits (B, T, V) aligned with <paramref name="targets"/>
    /// (B, T) (logits at t predict target t), <paramref name="mask"/> (B, T) 1 on completion tokens and 0 on prompt and padding
    /// (whose targets may be −100); (B). The sequence log-probability DPO compares (Rafailov et al. 2023, §4).
    /// </summary>
    public static Tensor SequenceLogProbs(Tensor logits, Tensor targets, Tensor mask)
    {
        var tokenLogp = PolicyGradientMath.TokenLogProbs(logits, targets);                 // (B, T)
        return (tokenLogp * mask.to(tokenLogp.dtype)).sum(-1);                             // (B)
    }

    /// <summary>DPO's implicit reward β·(log π(y|x) − log π_ref(y|x)) of each completion (Rafailov et al. 2023, eq. 5); (B).</summary>
    public static Tensor ImplicitRewards(Tensor policyLogps, Tensor referenceLogps, double beta)   // (B), (B)
        => beta * (policyLogps - referenceLogps);

    /// <summary>
    /// DPO loss (Rafailov et al. 2023, eq. 7): mean over pairs of −log σ(β[(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))])
    /// on sequence log-probabilities (<see cref="SequenceLogProbs"/>); scalar.
    /// </summary>
    public static Tensor DpoLoss(Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected, double beta)
        => BradleyTerryLoss(ImplicitRewards(policyChosen, referenceChosen, beta), ImplicitRewards(policyRejected, referenceRejected, beta));

    /// <summary>Mean margin r_c − r_r between the chosen and rejected (implicit) rewards; scalar.</summary>
    public static Tensor RewardMargin(Tensor chosenRewards, Tensor rejectedRewards)      // (B), (B)
        => (chosenRewards - rejectedRewards).mean();
}
