namespace SharpSeek.Training;

/// <summary>Learning-rate schedules. Linear warmup then cosine decay to a floor, as nanoGPT's <c>get_lr</c> (Loshchilov &amp; Hutter 2017, SGDR).</summary>
public static class LrSchedule
{
    /// <summary>
    /// Learning rate for optimizer step <paramref name="step"/> (0-based): <c>lr·(step+1)/(warmup+1)</c> while
    /// step &lt; warmup, then <c>minLr + ½(1 + cos(π·r))(lr − minLr)</c> with r = (step − warmup)/(decaySteps − warmup),
    /// and <paramref name="minLr"/> after <paramref name="decaySteps"/>.
    /// </summary>
    public static double WarmupCosine(int step, double lr, double minLr, int warmupSteps, int decaySteps)
    {
        if (step < warmupSteps) return lr * (step + 1) / (warmupSteps + 1);
        if (step >= decaySteps) return minLr;
        double ratio = (double)(step - warmupSteps) / (decaySteps - warmupSteps);   // in [0, 1)
        double coeff = 0.5 * (1.0 + Math.Cos(Math.PI * ratio));
        return minLr + coeff * (lr - minLr);
    }

    /// <summary>The schedule of <paramref name="config"/> at <paramref name="step"/>.</summary>
    public static double For(TrainConfig config, int step) =>
        WarmupCosine(step, config.Lr, config.MinLr, config.WarmupSteps, config.DecaySteps);
}
