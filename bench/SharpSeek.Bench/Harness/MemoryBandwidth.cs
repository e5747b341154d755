using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Json.Nodes;

namespace SharpSeek.Bench.Harness;

/// <summary>
/// Read bandwidth of this machine: several threads sum disjoint parts of a pinned array of ≥ 1 GiB with Vector512
/// (or Vector256) loads; the best pass counts. The yardstick for "fraction of the memory-bound decode rate" (weights
/// are streamed once per token); a single-threaded copy shows far less. On a shared machine call
/// <see cref="Measure"/> between the other measurements of a run so it gets the same chances of a quiet moment.
/// </summary>
public sealed unsafe class MemoryBandwidth : IDisposable
{
    private readonly float[] _data;
    private readonly int _threads;
    private readonly List<double> _rates = [];
    private float _sink;

    public MemoryBandwidth(int threads, long bytes)
    {
        long n = bytes / sizeof(float);
        if (n > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(bytes));
        _threads = threads;
        _data = GC.AllocateUninitializedArray<float>((int)n, pinned: true);
        long chunk = n / threads;
        Parallel.For(0, threads, t => _data.AsSpan((int)(t * chunk), (int)(t == threads - 1 ? n - t * chunk : chunk)).Fill(1f));
    }

    /// <summary>Best GB/s seen so far.</summary>
    public double Best => _rates.Count == 0 ? double.NaN : _rates.Max();

    /// <summary>Runs <paramref name="passes"/> timed passes; returns the best of them in GB/s.</summary>
    public double Measure(int passes)
    {
        long n = _data.Length, chunk = n / _threads / 64 * 64;
        double best = 0;
        fixed (float* p = _data)
        {
            float* basePtr = p;
            var partial = new float[_threads];
            for (int pass = 0; pass < passes; pass++)
            {
                long t0 = Stopwatch.GetTimestamp();
                Parallel.For(0, _threads, new ParallelOptions { MaxDegreeOfParallelism = _threads }, w =>
                    partial[w] += Sum(basePtr + w * chunk, w == _threads - 1 ? n - w * chunk : chunk));
                double rate = n * sizeof(float) / Stopwatch.GetElapsedTime(t0).TotalSeconds / 1e9;
                _rates.Add(rate);
                best = Math.Max(best, rate);
            }
            _sink += partial.Sum();
        }
        return best;
    }

    public JsonObject ToJson()
    {
        var sorted = _rates.OrderBy(r => r).ToList();
        return new JsonObject
        {
            ["gbps"] = Math.Round(sorted[^1], 2),
            ["median_gbps"] = Math.Round(sorted[sorted.Count / 2], 2),
            ["passes"] = sorted.Count,
            ["threads"] = _threads,
            ["bytes"] = (long)_data.Length * sizeof(float),
            ["vector"] = Vector512.IsHardwareAccelerated ? "Vector512" : "Vector256",
            ["method"] = "read-only sum over a pinned float array split between threads; best pass; passes spread over the run",
        };
    }

    public void Dispose() => GC.KeepAlive(_sink);

    private static float Sum(float* p, long n)
    {
        long i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i + 64 <= n; i += 64)
            {
                a0 += Vector512.Load(p + i); a1 += Vector512.Load(p + i + 16);
                a2 += Vector512.Load(p + i + 32); a3 += Vector512.Load(p + i + 48);
            }
            return Vector512.Sum(a0 + a1 + a2 + a3) + Tail(p, i, n);
        }
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (; i + 32 <= n; i += 32)
        {
            b0 += Vector256.Load(p + i); b1 += Vector256.Load(p + i + 8);
            b2 += Vector256.Load(p + i + 16); b3 += Vector256.Load(p + i + 24);
        }
        return Vector256.Sum(b0 + b1 + b2 + b3) + Tail(p, i, n);
    }

    private static float Tail(float* p, long i, long n)
    {
        float s = 0;
        for (; i < n; i++) s += p[i];
        return s;
    }
}
