using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using SharpSeek.Bench.Train;
using SharpSeek.Distributed;
using SharpSeek.Kernels;
using SharpSeek.Models.Gpt2;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Bench.Scaling;

/// <summary>
/// One layout of <c>bench/run scaling</c> (<c>SharpSeek.Bench worker scaling-train --config config_a --threads T …</c>), alone or
/// as every rank under <c>mpirun</c>: the trainer's step (forward, cross-entropy, backward, gradient all-reduce through
/// <see cref="MpiDataParallel.AverageGradients"/>, clip, AdamW) on random tokens, the global batch (8 × 256) split over the
/// ranks as <c>sharpseek train</c> splits it. Per step: compute (everything but the all-reduce), the wait for the slower
/// rank (a barrier before the all-reduce) and the all-reduce itself. Rank 0 prints the JSON; the other ranks print nothing.
/// </summary>
public static class ScalingTrainWorker
{
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        string configName = a.Get("config", "config_a");
        int threads = a.Int("threads", 1), steps = a.Int("steps", 4), warmup = a.Int("warmup", 2), seed = a.Int("seed", 1234);
        var c = TrainWorker.Configs[configName] with { Precision = a.Get("precision", "fp32") };

        using var dp = MpiDataParallel.LaunchedByMpirun() ? new MpiDataParallel() : null;
        int rank = dp?.Rank ?? 0, size = dp?.Size ?? 1;
        if (c.BatchSize % size != 0) throw new ArgumentException($"batch {c.BatchSize} does not split over {size} ranks");
        int localRows = a.Int("rows", c.BatchSize / size);                                   // --rows: a control, one rank's share alone

        torch.set_num_threads(threads);
        bool retained = NativeHeap.RetainFreedMemory();                                       // as Trainer.Run does
        torch.manual_seed(seed);
        using var model = (Gpt2LMHeadModel)TrainingModels.For(c, c.VocabSize)(null);
        model.train();
        if (c.Precision == "bf16") model.ComputeDType = ScalarType.BFloat16;
        var groups = ParamGroups.Assign(model, c.DecayEmbeddings);
        var parameters = groups.All.ToList();
        dp?.BroadcastFromRoot(parameters);
        using var optimizer = groups.CreateAdamW(c);
        torch.manual_seed(seed + 1 + rank);                                                  // each rank its own rows

        var compute = new List<double>();
        var computeCpu = new List<double>();                                                 // process CPU seconds: robust to a loaded machine
        var wait = new List<double>();
        var allReduce = new List<double>();
        var stepSeconds = new List<double>();
        for (int step = 0; step < warmup + steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            var x = torch.randint(0, c.VocabSize, [localRows, c.BlockSize], ScalarType.Int64);   // (B/N, T)
            var y = torch.randint(0, c.VocabSize, [localRows, c.BlockSize], ScalarType.Int64);   // (B/N, T)
            long t0 = Stopwatch.GetTimestamp();
            var c0 = Environment.CpuUsage.TotalTime;
            var loss = LanguageModelObjective.Loss(model, x, y);
            loss.backward();
            long t1 = Stopwatch.GetTimestamp();
            var c1 = Environment.CpuUsage.TotalTime;
            dp?.Barrier();                                                                   // the slower rank's lag, kept apart
            long t2 = Stopwatch.GetTimestamp();
            dp?.AverageGradients(parameters);
            long t3 = Stopwatch.GetTimestamp();
            var c3 = Environment.CpuUsage.TotalTime;
            nn.utils.clip_grad_norm_(parameters, c.GradClip);
            optimizer.step();
            optimizer.zero_grad();
            long t4 = Stopwatch.GetTimestamp();
            var c4 = Environment.CpuUsage.TotalTime;
            if (step < warmup) continue;
            compute.Add(Seconds(t0, t1) + Seconds(t3, t4));
            computeCpu.Add((c1 - c0 + (c4 - c3)).TotalSeconds);
            wait.Add(Seconds(t1, t2));
            allReduce.Add(Seconds(t2, t3));
            stepSeconds.Add(Seconds(t0, t4));
        }

        // Every rank's mean compute seconds per step (rank r fills slot r; the all-reduced mean times N gives each slot).
        var perRank = new double[2 * size];
        perRank[rank] = compute.Average();
        perRank[size + rank] = computeCpu.Average();
        dp?.Average(perRank);
        for (int r = 0; r < perRank.Length; r++) perRank[r] *= size;

        var sizes = parameters.Select(p => p.numel()).ToList();
        var bucketBytes = GradientBuckets.Plan(sizes, (GradientBuckets.DefaultCapBytes / sizeof(float)))
            .Select(b => sizes.Skip(b.Start).Take(b.End - b.Start).Sum() * sizeof(float)).ToList();
        long globalTokens = (long)localRows * size * c.BlockSize;
        var result = new JsonObject
        {
            ["config"] = configName,
            ["precision"] = c.Precision,
            ["ranks"] = size,
            ["threads_per_rank"] = torch.get_num_threads(),
            ["rank_cpus"] = CpusAllowed(),
            ["tokens_per_s"] = globalTokens * steps / stepSeconds.Sum(),
            ["global_tokens_per_step"] = globalTokens,
            ["tokens_per_rank_per_step"] = (long)localRows * c.BlockSize,
            ["step_seconds"] = new JsonArray(stepSeconds.Select(s => (JsonNode)Math.Round(s, 4)).ToArray()),
            ["compute_seconds_per_step"] = compute.Average(),
            ["compute_seconds_per_step_by_rank"] = new JsonArray(perRank.Take(size).Select(s => (JsonNode)Math.Round(s, 4)).ToArray()),
            ["compute_cpu_seconds_per_step"] = computeCpu.Average(),
            ["compute_cpu_seconds_per_step_by_rank"] = new JsonArray(perRank.Skip(size).Select(s => (JsonNode)Math.Round(s, 4)).ToArray()),
            ["wait_seconds_per_step"] = wait.Average(),
            ["allreduce_seconds_per_step"] = allReduce.Average(),
            ["allreduce_seconds_min"] = allReduce.Min(),
            ["allreduce_bytes_per_step"] = size > 1 ? sizes.Sum() * sizeof(float) : 0,
            ["bucket_bytes"] = new JsonArray(bucketBytes.Select(b => (JsonNode)b).ToArray()),
            ["parameters"] = sizes.Sum(),
            ["native_heap_retained"] = retained,
            ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(default)",
            ["steps"] = steps,
            ["warmup"] = warmup,
        };
        if (rank != 0) Console.SetOut(TextWriter.Null);                                      // only rank 0's JSON reaches mpirun's stdout
        return result;
    }

    /// <summary>This process's CPU affinity (Cpus_allowed_list from /proc), e.g. "0" when bound to core 0.</summary>
    public static string CpusAllowed()
    {
        try { return File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Cpus_allowed_list:"))?.Split(':', 2)[1].Trim() ?? "unknown"; }
        catch (IOException) { return "unknown"; }
    }

    private static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;
}
