namespace SharpSeek.Distributed;

/// <summary>How the batch changes with the number of machines N.</summary>
public enum BatchScaling
{
    /// <summary>The global batch stays the same; each of N machines computes 1/N of it (strong scaling).</summary>
    FixedGlobal,

    /// <summary>Each machine keeps its batch; the global batch grows N-fold (weak scaling).</summary>
    FixedPerMachine,
}

/// <summary>
/// One data-parallel training setup to predict with <see cref="ScalingModel.Predict"/>: a model of
/// <see cref="Parameters"/> parameters, <see cref="BatchTokens"/> tokens per optimizer step on one machine, machines of
/// <see cref="MachineFlopsPerSecond"/> achieved training FLOP/s, joined by a link of <see cref="LinkBytesPerSecond"/> with
/// <see cref="LatencySeconds"/> per message.
/// </summary>
public sealed record ScalingScenario
{
    public required long Parameters { get; init; }

    /// <summary>Tokens per optimizer step of one machine alone (N = 1): the global batch, and each machine's under <see cref="BatchScaling.FixedPerMachine"/>.</summary>
    public required double BatchTokens { get; init; }

    public required BatchScaling Batch { get; init; }

    /// <summary>Achieved training FLOP/s of one machine (6·parameters FLOPs per token; see <see cref="ScalingModel.TrainingFlops"/>).</summary>
    public required double MachineFlopsPerSecond { get; init; }

    /// <summary>Each machine's link bandwidth, bytes per second in each direction.</summary>
    public required double LinkBytesPerSecond { get; init; }

    /// <summary>α: the latency of one message between two machines.</summary>
    public required double LatencySeconds { get; init; }

    /// <summary>Bytes per all-reduced gradient element: 4 (fp32 buckets) or 2 (bf16 buckets).</summary>
    public int BytesPerElement { get; init; } = 4;

    /// <summary>Largest bytes of one all-reduce (a bucket); each bucket pays the latency term once. Default 25 MiB (PyTorch DDP's bucket_cap_mb).</summary>
    public long BucketCapBytes { get; init; } = 25L * 1024 * 1024;

    /// <summary>The all-reduce runs entirely under the compute (step = max instead of sum): an upper bound of what overlap can give.</summary>
    public bool Overlap { get; init; }
}

/// <summary>The prediction for N machines: per-step times, throughput and efficiency = tokens/s ÷ (N × one machine's tokens/s).</summary>
public readonly record struct ScalingPoint(int Machines, double TokensPerMachine, double ComputeSeconds, double AllReduceSeconds,
    double StepSeconds, double TokensPerSecond, double Efficiency);

/// <summary>
/// The α-β model of data-parallel training (Thakur, Rabenseifner &amp; Gropp 2005, "Optimization of collective communication
/// operations in MPICH" §2; Patarasuk &amp; Yuan 2009 for the ring all-reduce): per step every machine computes its share
/// of the batch (6·parameters FLOPs per token, Kaplan et al. 2020 §2.1) and the gradient (parameters × bytes per element)
/// is all-reduced by a ring, 2(N−1)/N · bytes / bandwidth + 2(N−1)·α per bucket. Pure functions; fitted to measurements
/// in bench/run scaling, used for docs/scaling.md.
/// </summary>
public static class ScalingModel
{
    /// <summary>Bytes of the gradient all-reduced per step: <paramref name="parameters"/> × <paramref name="bytesPerElement"/> (fp32 4, bf16 2).</summary>
    public static long GradientBytes(long parameters, int bytesPerElement) => parameters * bytesPerElement;

    /// <summary>A link speed in Gb/s (10⁹ bits) as bytes per second.</summary>
    public static double LinkBytesPerSecond(double gigabitsPerSecond) => gigabitsPerSecond * 1e9 / 8;

    /// <summary>All-reduces (buckets) of <paramref name="bytes"/> with buckets of at most <paramref name="capBytes"/>: ⌈bytes / cap⌉.</summary>
    public static long Buckets(long bytes, long capBytes)
    {
        if (capBytes <= 0) throw new ArgumentOutOfRangeException(nameof(capBytes), "the bucket cap must be positive");
        return bytes <= 0 ? 0 : (bytes + capBytes - 1) / capBytes;
    }

    /// <summary>
    /// Ring all-reduce of <paramref name="bytes"/> over <paramref name="machines"/> in <paramref name="messages"/> calls:
    /// 2(N−1)/N · bytes / bandwidth (reduce-scatter then all-gather, each moving (N−1)/N of the data through every link) +
    /// messages · 2(N−1) · α. Zero for one machine.
    /// </summary>
    public static double RingAllReduceSeconds(int machines, double bytes, double bytesPerSecond, double latencySeconds, long messages = 1)
    {
        if (machines < 1) throw new ArgumentOutOfRangeException(nameof(machines), "at least one machine");
        if (machines == 1) return 0;
        double n = machines;
        return 2 * (n - 1) / n * bytes / bytesPerSecond + messages * 2 * (n - 1) * latencySeconds;
    }

    /// <summary>Training FLOPs of <paramref name="tokens"/> tokens: 6 · parameters · tokens (forward 2, backward 4 per parameter and token).</summary>
    public static double TrainingFlops(long parameters, double tokens) => 6.0 * parameters * tokens;

    /// <summary>Achieved training FLOP/s from a measurement: <see cref="TrainingFlops"/> of <paramref name="tokens"/> ÷ their compute seconds.</summary>
    public static double AchievedFlopsPerSecond(long parameters, double tokens, double computeSeconds) => TrainingFlops(parameters, tokens) / computeSeconds;

    /// <summary>One step: compute then all-reduce (sum), or all-reduce hidden under the compute (max, the bound of full overlap).</summary>
    public static double StepSeconds(double computeSeconds, double allReduceSeconds, bool overlap) =>
        overlap ? Math.Max(computeSeconds, allReduceSeconds) : computeSeconds + allReduceSeconds;

    /// <summary>The prediction of <paramref name="s"/> on <paramref name="machines"/> machines.</summary>
    public static ScalingPoint Predict(ScalingScenario s, int machines)
    {
        if (machines < 1) throw new ArgumentOutOfRangeException(nameof(machines), "at least one machine");
        double perMachine = s.Batch == BatchScaling.FixedGlobal ? s.BatchTokens / machines : s.BatchTokens;
        double global = perMachine * machines;
        double compute = TrainingFlops(s.Parameters, perMachine) / s.MachineFlopsPerSecond;
        long bytes = GradientBytes(s.Parameters, s.BytesPerElement);
        double comm = RingAllReduceSeconds(machines, bytes, s.LinkBytesPerSecond, s.LatencySeconds, Buckets(bytes, s.BucketCapBytes));
        double step = StepSeconds(compute, comm, s.Overlap);
        double tokensPerSecond = global / step;
        double single = s.BatchTokens / (TrainingFlops(s.Parameters, s.BatchTokens) / s.MachineFlopsPerSecond);   // N = 1: no all-reduce
        return new ScalingPoint(machines, perMachine, compute, comm, step, tokensPerSecond, tokensPerSecond / (machines * single));
    }

    /// <summary>The largest of <paramref name="machines"/> (ascending) whose efficiency is at least <paramref name="minEfficiency"/>, or null when none is.</summary>
    public static int? LargestEfficient(ScalingScenario s, IReadOnlyList<int> machines, double minEfficiency)
    {
        int? best = null;
        foreach (int n in machines)
            if (Predict(s, n).Efficiency >= minEfficiency) best = n;
        return best;
    }

    /// <summary>
    /// The first N of <paramref name="machines"/> (ascending) whose throughput is less than (1 + <paramref name="minGain"/>) times
    /// that of the previous entry: going there added less than that fraction (e.g. 0.1 = 10%); null when every step paid.
    /// </summary>
    public static int? FirstDiminishing(ScalingScenario s, IReadOnlyList<int> machines, double minGain)
    {
        for (int i = 1; i < machines.Count; i++)
            if (Predict(s, machines[i]).TokensPerSecond < (1 + minGain) * Predict(s, machines[i - 1]).TokensPerSecond) return machines[i];
        return null;
    }

    /// <summary>
    /// Fits the ring model t = 2(N−1)·α + 2(N−1)/N · bytes / bandwidth to all-reduce timings of <paramref name="ranks"/> ranks:
    /// least squares of the relative error (weights 1/t², so 4 KiB and 64 MiB count alike) for the line t = a + b·bytes, then
    /// α = a / (2(N−1)) and bandwidth = 2(N−1)/N / b (bytes per second).
    /// </summary>
    public static (double LatencySeconds, double BytesPerSecond) FitLatencyBandwidth(IReadOnlyList<(double Bytes, double Seconds)> samples, int ranks)
    {
        if (ranks < 2) throw new ArgumentOutOfRangeException(nameof(ranks), "an all-reduce fit needs at least two ranks");
        if (samples.Select(p => p.Bytes).Distinct().Count() < 2) throw new ArgumentException("the fit needs timings of at least two sizes", nameof(samples));
        double s = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
        foreach (var (x, t) in samples)
        {
            double w = 1 / (t * t);
            s += w; sx += w * x; sy += w * t; sxx += w * x * x; sxy += w * x * t;
        }
        double b = (s * sxy - sx * sy) / (s * sxx - sx * sx);
        double a = (sy - b * sx) / s;
        double n = ranks;
        return (a / (2 * (n - 1)), 2 * (n - 1) / n / b);
    }
}
