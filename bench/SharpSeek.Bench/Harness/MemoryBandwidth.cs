using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Text.Json.Nodes;

namespace SharpSeek.Bench.Harness;

/// <summary>
/// Read bandwidth of this machine: several threads sum disjoint halves of a pinned array of ≥ 1 GiB with
/// Vector512 (or Vector256) loads, best of several passes. The yardstick for "fraction of the memory-bound decode
/// rate" (weights must be streamed once per token); a single-threaded copy shows far less.
/// </summary>
public static class MemoryBandwidth
{
    private static float _sink;

    public static unsafe JsonObject MeasureRead(int threads, long bytes, int passes)
    {
        long n = bytes / sizeof(float);
        if (n > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(bytes));
        var data = GC.AllocateUninitializedArray<float>((int)n, pinned: true);
        data.AsSpan().Fill(1f);                                           // touch every page before timing
        var rates = new List<double>();
        fixed (float* p = data)
        {
            float* basePtr = p;
            long chunk = n / threads / 64 * 64;
            var partial = new float[threads];
            using var barrier = new Barrier(threads + 1);
            int pass = 0;
            var workers = Enumerable.Range(0, threads).Select(w => new Thread(() =>
            {
                for (int i = 0; i < passes; i++)
                {
                    barrier.SignalAndWait();                              // start together
                    partial[w] += Sum(basePtr + w * chunk, w == threads - 1 ? n - w * chunk : chunk);
                    barrier.SignalAndWait();                              // finish together
                }
            }) { IsBackground = true }).ToList();
            workers.ForEach(t => t.Start());
            for (; pass < passes; pass++)
            {
                barrier.SignalAndWait();
                long t0 = Stopwatch.GetTimestamp();
                barrier.SignalAndWait();
                double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                rates.Add(n * sizeof(float) / seconds / 1e9);
            }
            workers.ForEach(t => t.Join());
            _sink = partial.Sum();
        }
        var sorted = rates.OrderBy(r => r).ToList();
        return new JsonObject
        {
            ["gbps"] = Math.Round(sorted[^1], 2),
            ["median_gbps"] = Math.Round(sorted[sorted.Count / 2], 2),
            ["passes_gbps"] = new JsonArray(rates.Select(r => (JsonNode)Math.Round(r, 2)).ToArray()),
            ["threads"] = threads,
            ["bytes"] = n * sizeof(float),
            ["vector"] = Vector512.IsHardwareAccelerated ? "Vector512" : "Vector256",
            ["method"] = "read-only sum over a pinned float array split between threads; best pass",
        };
    }

    private static unsafe float Sum(float* p, long n)
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

    private static unsafe float Tail(float* p, long i, long n)
    {
        float s = 0;
        for (; i < n; i++) s += p[i];
        return s;
    }
}
