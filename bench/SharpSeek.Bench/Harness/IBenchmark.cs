using System.Diagnostics;
using System.Text.Json.Nodes;

namespace SharpSeek.Bench.Harness;

/// <summary>One named benchmark of <c>bench/run NAME</c>: returns the JSON body of bench/results/NAME.json.</summary>
public interface IBenchmark
{
    JsonObject Run(BenchContext context);
}

/// <summary>What a benchmark run shares: quick mode, a progress log (stderr), the machine load sampled along the way.</summary>
public sealed class BenchContext(bool quick)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>--quick: the whole run stays within 3 minutes.</summary>
    public bool Quick { get; } = quick;

    public TimeSpan Elapsed => _clock.Elapsed;

    /// <summary>(label, 1-minute load average, `uptime`-style line) in the order sampled.</summary>
    public List<(string Label, double Load1, string Uptime)> LoadSamples { get; } = [];

    public void SampleLoad(string label) => LoadSamples.Add((label, Machine.LoadAverage1(), Machine.Uptime()));

    public void Log(string message) => Console.Error.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s] {message}");
}
