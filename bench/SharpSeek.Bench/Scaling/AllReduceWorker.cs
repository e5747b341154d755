using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using SharpSeek.Distributed;

namespace SharpSeek.Bench.Scaling;

/// <summary>
/// MPI_Allreduce (fp32 sum, in place) timed on its own under <c>mpirun</c>
/// (<c>SharpSeek.Bench worker allreduce --sizes B1,B2,… [--sequence NAME=b1+b2+…;…] --min-seconds S</c>): for each size in
/// bytes, after two warm-up calls, calls preceded by a barrier (so every rank enters together) until rank 0 has timed
/// <c>--min-seconds</c> (at least 3 calls, at most 200); a sequence times its buckets one after another as one step does.
/// Rank 0 prints min and median seconds per size; the other ranks print nothing.
/// </summary>
public static unsafe class AllReduceWorker
{
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        var sizes = a.Get("sizes", "4096").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToList();
        var sequences = a.Get("sequence", "").Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(s => s.Split('=', 2)).Select(p => (Name: p[0], Buckets: p[1].Split('+').Select(long.Parse).ToList())).ToList();
        double minSeconds = double.Parse(a.Get("min-seconds", "0.3"), System.Globalization.CultureInfo.InvariantCulture);

        using var dp = new MpiDataParallel();
        var mpi = MpiNative.Instance;
        long largest = sizes.Concat(sequences.SelectMany(s => s.Buckets)).Max();
        float* buffer = (float*)NativeMemory.AlignedAlloc((nuint)largest, 64);
        try
        {
            new Span<float>(buffer, checked((int)(largest / sizeof(float)))).Fill(1f / dp.Size);   // sums stay 1: no overflow over many calls

            double Time(IReadOnlyList<long> buckets)
            {
                dp.Barrier();
                long t0 = Stopwatch.GetTimestamp();
                foreach (long bytes in buckets)
                    mpi.Allreduce(MpiNative.InPlace, (IntPtr)buffer, (int)(bytes / sizeof(float)), mpi.Float, mpi.OpSum, mpi.CommWorld);
                return Stopwatch.GetElapsedTime(t0).TotalSeconds;
            }

            JsonObject Measure(IReadOnlyList<long> buckets)
            {
                Time(buckets); Time(buckets);
                var times = new List<double>();
                while (true)
                {
                    times.Add(Time(buckets));
                    int more = times.Count < 3 || (times.Sum() < minSeconds && times.Count < 200) ? 1 : 0;
                    if (dp.BroadcastFromRoot(more) == 0) break;                               // rank 0 decides for all
                }
                times.Sort();
                double median = times[times.Count / 2];
                long total = buckets.Sum();
                return new JsonObject
                {
                    ["bytes"] = total,
                    ["calls"] = buckets.Count,
                    ["min_s"] = times[0],
                    ["median_s"] = median,
                    ["repeats"] = times.Count,
                    ["bus_gbps"] = Math.Round(2.0 * (dp.Size - 1) / dp.Size * total / median / 1e9, 3),   // bytes through each rank's link per second
                };
            }

            var bySize = new JsonArray(sizes.Select(s => (JsonNode)Measure([s])).ToArray());
            var bySequence = new JsonObject();
            foreach (var (name, buckets) in sequences) bySequence[name] = Measure(buckets);
            var result = new JsonObject
            {
                ["ranks"] = dp.Size,
                ["rank_cpus"] = ScalingTrainWorker.CpusAllowed(),
                ["sizes"] = bySize,
                ["sequences"] = bySequence,
                ["min_seconds_per_size"] = minSeconds,
            };
            if (dp.Rank != 0) Console.SetOut(TextWriter.Null);                                // only rank 0's JSON reaches mpirun's stdout
            return result;
        }
        finally { NativeMemory.AlignedFree(buffer); }
    }
}
