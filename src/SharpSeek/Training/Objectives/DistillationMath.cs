using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>Which divergence pulls the student towards the teacher distribution p (the student's is q).</summary>
public enum DivergenceKind
{
    /// <summary>KL(p ‖ q) = Σ p (log p − log q): mass-covering (Hinton et al. 2015).</summary>
    Forward,

    /// <summary>KL(q ‖ p) = Σ q (log q − log p): mode-seeking (MiniLLM, Gu et al. 2024).</summary>
    Reverse,

    /// <summary>λ·KL(p ‖ q) + (1 − λ)·KL(q ‖ p).</summary>
    Mix,
}

/// <summary>
/// The soft-label maths of distillation as small pure functions (Hinton et al. 2015; several teachers as in DeepSeek-R1's
/// distilled models, which merge what several models know): temperature-scaled log-probabilities, the weighted mixture of
/// several teachers, top-k truncation of a teacher distribution (for the teacher cache) and the forward / reverse / mixed KL
/// between a teacher target and the student, over full rows or over the k ids a cache kept. Everything runs in float32.
/// </summary>
public static class DistillationMath
{
    /// <summary>log softmax(logits / τ) over the last dimension, in float32.</summary>
    public static Tensor LogProbs(Tensor logits, double temperature) =>
        (logits.to(ScalarType.Float32) / temperature).log_softmax(-1);

    /// <summary>
    /// The teachers' mixture at temperature τ: log Σ_i w_i softmax(z_i / τ), computed as logsumexp_i(log w_i + log p_i) so no
    /// probability underflows; rows (N, V) each, weights normalised to sum 1 (they must be positive).
    /// </summary>
    public static Tensor MixtureLogProbs(IReadOnlyList<Tensor> teacherLogits, IReadOnlyList<double> weights, double temperature)
    {
        if (teacherLogits.Count == 0 || teacherLogits.Count != weights.Count)
            throw new ArgumentException($"{teacherLogits.Count} teachers for {weights.Count} weights", nameof(weights));
        if (teacherLogits.Count == 1) return LogProbs(teacherLogits[0].detach(), temperature);
        using var scope = NewDisposeScope();
        double sum = weights.Sum();
        var terms = teacherLogits.Select((z, i) => LogProbs(z.detach(), temperature) + Math.Log(weights[i] / sum)).ToArray();   // (N, V) each
        return stack(terms, 0).logsumexp(0).MoveToOuterDisposeScope();                                                   // (N, V)
    }

    /// <summary>
    /// The <paramref name="k"/> most likely ids of each row of <paramref name="logProbs"/> (N, V) and their log-probabilities
    /// renormalised over those k ids (log p_i − log Σ_{j∈top-k} p_j, so each row sums to 1): ids int64 (N, k), log-probs float32 (N, k).
    /// </summary>
    public static (Tensor Ids, Tensor LogProbs) TopK(Tensor logProbs, int k)
    {
        using var scope = NewDisposeScope();
        var (values, ids) = logProbs.to(ScalarType.Float32).topk(k, dim: -1);                                     // (N, k) each
        var renormalised = values - values.logsumexp(-1, keepdim: true);                                           // (N, k)
        return (ids.MoveToOuterDisposeScope(), renormalised.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Mean over positions of the divergence between the target p and the student q at temperature τ, in float32; rows whose
    /// <paramref name="keep"/> (N, bool or 0/1) is false are left out (0 when none is left). Gradients reach the student only.
    /// <para>
    /// Full rows (<paramref name="targetIds"/> null): <paramref name="targetLogProbs"/> is log p over the vocabulary (N, V),
    /// q = softmax(student / τ).
    /// </para>
    /// <para>
    /// Top-k rows (a teacher cache; <paramref name="targetIds"/> (N, k), <paramref name="targetLogProbs"/> (N, k) renormalised
    /// over those ids, so p is zero outside them). The forward term is the exact KL(p ‖ q) over the whole vocabulary with the
    /// student's full log-softmax gathered at the k ids: terms where p = 0 vanish, and the term −Σ p log q keeps pushing the
    /// student's mass onto the k ids (with k = V it is the uncached loss). The reverse term cannot be taken over the whole
    /// vocabulary (log p = −∞ wherever the student puts mass outside the k ids), so it compares the student restricted to the k
    /// ids and renormalised there, q_K = q_i / Σ_{j∈K} q_j, with p: KL(q_K ‖ p). The k kept ids of a sharp teacher hold nearly
    /// all its mass, so this is the reverse KL over the support that matters; the forward part of a mix still covers the rest.
    /// </para>
    /// </summary>
    public static Tensor Divergence(Tensor studentLogits, Tensor targetLogProbs, double temperature, DivergenceKind kind = DivergenceKind.Forward,
                                    double mixWeight = 0.5, Tensor? targetIds = null, Tensor? keep = null)
    {
        using var scope = NewDisposeScope();
        var logQFull = LogProbs(studentLogits, temperature);                                                       // (N, V)
        var logP = targetLogProbs.detach().to(ScalarType.Float32);                                                 // (N, V) or (N, k)
        var logQ = targetIds is null ? logQFull : logQFull.gather(1, targetIds.to(ScalarType.Int64));             // (N, V) or (N, k)
        var p = logP.exp();
        Tensor? forward = kind == DivergenceKind.Reverse ? null : (p * (logP - logQ)).sum(-1);                     // (N)
        Tensor? reverse = null;
        if (kind != DivergenceKind.Forward)
        {
            var logQr = targetIds is null ? logQ : logQ - logQ.logsumexp(-1, keepdim: true);                      // (N, k): restricted and renormalised
            reverse = (logQr.exp() * (logQr - logP)).sum(-1);                                                      // (N)
        }
        var perRow = kind switch
        {
            DivergenceKind.Forward => forward!,
            DivergenceKind.Reverse => reverse!,
            _ => forward! * mixWeight + reverse! * (1 - mixWeight),
        };
        if (keep is null) return perRow.mean().MoveToOuterDisposeScope();
        var k = keep.to(ScalarType.Float32);                                                                       // (N)
        return ((perRow * k).sum() / k.sum().clamp_min(1)).MoveToOuterDisposeScope();
    }

    /// <summary>Hinton et al.'s mix α·CE + (1 − α)·τ²·KL of the hard-label cross-entropy and the soft-label divergence.</summary>
    public static Tensor Mix(Tensor ce, Tensor kl, double temperature, double hardLabelWeight)
    {
        double soft = (1 - hardLabelWeight) * temperature * temperature;
        if (hardLabelWeight == 0) return kl * soft;
        return hardLabelWeight == 1 ? ce * 1.0 : ce * hardLabelWeight + kl * soft;
    }
}
