using System.Diagnostics;

namespace SharpSeek.Bench.Harness;

/// <summary>Timing of one piece of work in a profile: the fastest of several runs after warm-up runs.</summary>
public static class BestOf
{
    /// <summary>Best wall time of <paramref name="repeats"/> runs of <paramref name="body"/> after <paramref name="warmup"/>, in seconds.</summary>
    public static double Seconds(Action body, int warmup, int repeats)
    {
        for (int i = 0; i < warmup; i++) body();
        var best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            body();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
        }
        return best;
    }
}
