namespace SharpSeek.Training;

/// <summary>
/// The time-budget schedule (<c>schedule: "time"</c> with <c>max_minutes</c>): after the warm-up the trainer measures
/// its seconds per step and per evaluation and sets the cosine horizon (max_steps, and lr_decay_steps one less) so that
/// the last step, its evaluation and checkpoint end at the deadline, with the last step at min_lr. The horizon is
/// stored in the trainer state; a resumed run keeps it.
/// </summary>
public static class TimeBudget
{
    /// <summary>Fewest steps timed for the horizon.</summary>
    public const int MinTimedSteps = 3;

    /// <summary>Share of the remaining time kept free for noise in the measurement (other jobs on the machine).</summary>
    public const double Margin = 0.02;

    /// <summary>
    /// The step count after which the horizon is set: the end of the lr warm-up (whose learning rates do not depend
    /// on the horizon), but at least 2 × <see cref="MinTimedSteps"/> steps into this run.
    /// </summary>
    public static int MeasureUntil(int warmupSteps, int startStep) => Math.Max(warmupSteps, startStep + 2 * MinTimedSteps);

    /// <summary>
    /// Steps numbered above this are timed: the second half of this run's steps up to <paramref name="measureUntil"/>.
    /// The first half runs slower (.NET tiers up the C# kernels, the allocator warms up) than the rest of the run.
    /// </summary>
    public static int TimedAfter(int startStep, int measureUntil) => startStep + Math.Max(1, (measureUntil - startStep) / 2);

    /// <summary>
    /// The horizon in steps: <paramref name="stepsDone"/> + n, where n steps of <paramref name="stepSeconds"/>, an
    /// evaluation (<paramref name="evalSeconds"/>) plus checkpoint (<paramref name="checkpointSeconds"/>) every
    /// <paramref name="evalInterval"/> steps, a checkpoint every <paramref name="checkpointInterval"/> steps (0 = none)
    /// and the final evaluation and checkpoint fit in (1 − <see cref="Margin"/>) of the time left:
    /// n = ⌊((budget − elapsed)(1 − margin) − (e + k)) / (s + (e + k)/I + k/K)⌋, at least 1.
    /// </summary>
    public static int HorizonSteps(int stepsDone, double elapsedSeconds, double budgetSeconds, double stepSeconds,
                                   double evalSeconds, int evalInterval, double checkpointSeconds, int checkpointInterval)
    {
        double perEval = evalSeconds + checkpointSeconds;
        double perStep = stepSeconds + perEval / evalInterval + (checkpointInterval > 0 ? checkpointSeconds / checkpointInterval : 0);
        double left = (budgetSeconds - elapsedSeconds) * (1 - Margin) - perEval;                 // the final evaluation and checkpoint
        double n = Math.Floor(left / perStep);
        return stepsDone + (int)Math.Clamp(n, 1, int.MaxValue - stepsDone - 1);
    }

    /// <summary>
    /// An evaluation's time before one was measured: <paramref name="evalIters"/> forward passes, each about a third of
    /// a training micro-step (forward + backward ≈ 3 forwards).
    /// </summary>
    public static double EstimateEvalSeconds(double stepSeconds, int evalIters, int gradAccum) => evalIters * stepSeconds / gradAccum / 3;

    /// <summary>
    /// <paramref name="config"/> with its schedule ending at <paramref name="horizon"/>: max_steps = horizon and
    /// lr_decay_steps = horizon − 1, so the last step (index horizon − 1) runs at min_lr, even when the budget leaves
    /// only a few steps after the warm-up.
    /// </summary>
    public static TrainConfig WithHorizon(TrainConfig config, int horizon) => config with { MaxSteps = horizon, LrDecaySteps = Math.Max(1, horizon - 1) };

    /// <summary>Before the horizon is measured: no step limit and the peak learning rate after the warm-up.</summary>
    public static TrainConfig Unmeasured(TrainConfig config) => WithHorizon(config, int.MaxValue);
}
