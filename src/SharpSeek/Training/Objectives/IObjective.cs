using SharpSeek.Data;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>Why a step runs: a training micro-batch (gradients flow, policy in train mode) or an evaluation batch (under no_grad, policy in eval mode).</summary>
public enum StepMode { Train, Eval }

/// <summary>
/// One micro-batch's result: the scalar float32 <paramref name="Loss"/> (Train: back-propagated; Eval: the loss reported as
/// val_loss), named host <paramref name="Metrics"/> (e.g. "kl", "accuracy"; averaged over micro-batches and evaluation
/// batches) and the <paramref name="Tokens"/> it processed (for tokens/s).
/// </summary>
public sealed record ObjectiveStep(Tensor Loss, IReadOnlyDictionary<string, double> Metrics, long Tokens)
{
    /// <summary>
    /// How many items (e.g. supervised tokens) <see cref="Loss"/> is the mean over, when that count varies between micro-batches;
    /// null when every rank's share counts alike (a mean over equal numbers of rows). Under data parallelism the trainer
    /// weighs each rank's loss by it, so N ranks give the gradient and loss of the mean over the whole global batch.
    /// </summary>
    public double? Weight { get; init; }

    public static readonly IReadOnlyDictionary<string, double> NoMetrics = new Dictionary<string, double>();
}

/// <summary>
/// What the one training loop (<see cref="Trainer"/>) optimises: an objective owns its data (its own batch type and
/// sampling state), holds the frozen models it reads, and turns one micro-batch and the policy into a loss and named
/// metrics; evaluation calls the same objective (<see cref="StepMode.Eval"/>, see <see cref="ObjectiveEvaluation"/>).
/// How the objectives map onto it:
/// <list type="bullet">
/// <item>Pretraining, fine-tuning: <see cref="LanguageModelObjective"/>: token windows, next-token CE (+ MTP, MoE balance terms).</item>
/// <item>SFT: the same loss over chat rows whose prompt positions have target <see cref="LanguageModelLoss.IgnoreIndex"/>; data: rendered conversations, packed or padded.</item>
/// <item>Reward model: (prompt, chosen, rejected) pairs; −log σ(r_c − r_r) from a scalar head on the policy's last hidden state; metric "accuracy".</item>
/// <item>DPO: the same pairs; a frozen reference in <see cref="FrozenModels"/> scored under no_grad; metrics "reward_accuracy", "margin".</item>
/// <item>PPO, GRPO: prompts; Step samples rollouts from the policy with the generation engine (no_grad), scores them and returns the clipped surrogate + β·KL to a frozen reference; inner epochs reuse the objective's rollouts over successive Steps.</item>
/// <item>Distillation: <see cref="DistillationObjective"/>: token windows or SFT rows (assistant tokens only); the teachers in <see cref="FrozenModels"/> (several: their mixed distribution) or a top-k <see cref="TeacherCache"/>; α·CE + (1 − α)·τ²·D, D = forward, reverse or mixed KL.</item>
/// </list>
/// </summary>
public interface IObjective
{
    /// <summary>
    /// The models the objective reads but never trains (reference, teacher): in eval mode with requires_grad false. The
    /// trainer checks that, keeps them out of the optimizer and saves only the policy in checkpoints.
    /// </summary>
    IReadOnlyList<CausalLM> FrozenModels { get; }

    /// <summary>Throws <see cref="ConfigException"/> or <see cref="DataException"/> when the objective cannot train <paramref name="policy"/> (vocabulary, sequence length, too little data).</summary>
    void Validate(CausalLM policy);

    /// <summary>
    /// One micro-batch of <paramref name="split"/>: samples it, runs the policy (and frozen models under no_grad) and returns
    /// the loss and metrics. The caller owns the dispose scope and, in <see cref="StepMode.Eval"/>, no_grad and eval mode.
    /// </summary>
    ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode);

    /// <summary>Restarts the sampling stream of <paramref name="split"/> from <paramref name="seed"/> (the same evaluation batches every time).</summary>
    void Reseed(DataSplit split, ulong seed);

    /// <summary>The data position (opaque text) stored in a checkpoint, for exact resume.</summary>
    string SaveState();

    /// <summary>Restores a position written by <see cref="SaveState"/>.</summary>
    void RestoreState(string state);
}

/// <summary>
/// Mean evaluation loss (for language models the main head's next-token cross-entropy) and perplexity exp(loss), over
/// <paramref name="Tokens"/> tokens, with the objective's averaged metrics (nanoGPT's <c>estimate_loss</c>).
/// </summary>
public sealed record EvalResult(double Loss, long Tokens)
{
    public double Perplexity => Math.Exp(Loss);

    public IReadOnlyDictionary<string, double> Metrics { get; init; } = ObjectiveStep.NoMetrics;

    /// <summary>Batches evaluated (fewer than asked when <see cref="ObjectiveEvaluation.Estimate"/> was stopped early).</summary>
    public int Batches { get; init; }
}

/// <summary>Evaluation through an objective: its <see cref="StepMode.Eval"/> steps, averaged.</summary>
public static class ObjectiveEvaluation
{
    /// <summary>
    /// Mean loss and metrics of <paramref name="iters"/> evaluation steps on <paramref name="split"/>, drawn from a stream
    /// restarted at <paramref name="seed"/> (the same batches at every call, so evaluations compare like with like);
    /// the policy runs in eval mode under no_grad and gets its mode back. <paramref name="stopEarly"/> (e.g. a deadline
    /// passed) is asked before each step after the first; when it says yes, the means are over the steps done
    /// (<see cref="EvalResult.Batches"/>).
    /// </summary>
    public static EvalResult Estimate(IObjective objective, CausalLM policy, DataSplit split, int iters, ulong seed, Func<bool>? stopEarly = null)
    {
        bool wasTraining = policy.training;
        policy.eval();
        try
        {
            using var _ = no_grad();
            objective.Reseed(split, seed);
            double sum = 0;
            long tokens = 0;
            var metrics = new Dictionary<string, double>();
            int done = 0;
            for (int i = 0; i < iters; i++)
            {
                if (i > 0 && stopEarly is not null && stopEarly()) break;
                using var scope = NewDisposeScope();
                var step = objective.Step(policy, split, StepMode.Eval);
                done++;
                sum += step.Loss.item<float>();
                tokens += step.Tokens;
                foreach (var (name, value) in step.Metrics) metrics[name] = metrics.GetValueOrDefault(name) + value;
            }
            foreach (var name in metrics.Keys.ToList()) metrics[name] /= done;
            return new EvalResult(sum / done, tokens) { Metrics = metrics, Batches = done };
        }
        finally { policy.train(wasTraining); }
    }
}
