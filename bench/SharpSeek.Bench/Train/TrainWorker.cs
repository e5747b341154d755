using SharpSeek.Models.Common;
using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using SharpSeek.Models.Gpt2;
using SharpSeek.Training;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;
using SharpSeek.Kernels;

namespace SharpSeek.Bench.Train;

/// <summary>
/// One SharpSeek training measurement in its own process (<c>SharpSeek.Bench worker train --config NAME --precision fp32|bf16 …</c>):
/// the training step of <see cref="Trainer"/> (forward, cross-entropy, backward, clip, AdamW with fp32 master weights)
/// on random tokens, timed after warm-up steps, with the time split into forward+loss, backward and optimizer.
/// </summary>
public static class TrainWorker
{
    /// <summary>The benchmark shapes (issue 3 §5); the PyTorch baseline (bench/baselines/train_pytorch.py) builds the same.</summary>
    public static readonly IReadOnlyDictionary<string, TrainConfig> Configs = new Dictionary<string, TrainConfig>
    {
        ["config_a"] = new() { NLayer = 6, NHead = 6, NEmbd = 384, VocabSize = 50304, BlockSize = 256, BatchSize = 8, Beta2 = 0.95, Lr = 6e-4 },
        ["config_b"] = new() { NLayer = 5, NHead = 6, NEmbd = 384, VocabSize = 4096, BlockSize = 256, BatchSize = 8, Beta2 = 0.95, Lr = 6e-4 },
    };

    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        string configName = a.Get("config", "config_a");
        int threads = a.Int("threads", 2), steps = a.Int("steps", 5), warmup = a.Int("warmup", 1), seed = a.Int("seed", 1234);
        var c = Configs[configName] with { Precision = a.Get("precision", "fp32") };

        torch.set_num_threads(threads);
        bool retained = a.Get("retain-heap", "1") == "1" && NativeHeap.RetainFreedMemory();   // as Trainer.Run does
        torch.manual_seed(seed);
        using var model = (Gpt2LMHeadModel)TrainingModels.For(c, c.VocabSize)(null);
        model.train();
        if (c.Precision == "bf16") model.ComputeDType = ScalarType.BFloat16;
        var groups = ParamGroups.Assign(model, c.DecayEmbeddings);
        var parameters = groups.All.ToList();
        using var optimizer = groups.CreateAdamW(c);

        double forward = 0, backward = 0, update = 0;
        var stepSeconds = new List<double>();
        var losses = new List<double>();
        for (int step = 0; step < warmup + steps; step++)
        {
            using var scope = torch.NewDisposeScope();
            var x = torch.randint(0, c.VocabSize, [c.BatchSize, c.BlockSize], ScalarType.Int64);   // (B, T)
            var y = torch.randint(0, c.VocabSize, [c.BatchSize, c.BlockSize], ScalarType.Int64);   // (B, T)
            long t0 = Stopwatch.GetTimestamp();
            var loss = LanguageModelObjective.Loss(model, x, y);
            losses.Add(loss.item<float>());
            long t1 = Stopwatch.GetTimestamp();
            loss.backward();
            long t2 = Stopwatch.GetTimestamp();
            nn.utils.clip_grad_norm_(parameters, c.GradClip);
            optimizer.step();
            optimizer.zero_grad();
            long t3 = Stopwatch.GetTimestamp();
            if (step < warmup) continue;
            double f = Seconds(t0, t1), b = Seconds(t1, t2), u = Seconds(t2, t3);
            forward += f; backward += b; update += u;
            stepSeconds.Add(f + b + u);
        }
        double total = stepSeconds.Sum();
        long tokens = (long)c.BatchSize * c.BlockSize;
        return new JsonObject
        {
            ["side"] = "sharpseek",
            ["config"] = configName,
            ["precision"] = c.Precision,
            ["tokens_per_s"] = tokens * steps / total,
            ["best_step_tokens_per_s"] = tokens / stepSeconds.Min(),
            ["step_seconds"] = new JsonArray(stepSeconds.Select(s => (JsonNode)Math.Round(s, 4)).ToArray()),
            ["phase_seconds_per_step"] = new JsonObject
            {
                ["forward_and_loss"] = Math.Round(forward / steps, 4),
                ["backward"] = Math.Round(backward / steps, 4),
                ["clip_and_adamw"] = Math.Round(update / steps, 4),
            },
            ["losses"] = new JsonArray(losses.Select(l => (JsonNode)Math.Round(l, 4)).ToArray()),
            ["threads"] = torch.get_num_threads(),
            ["native_heap_retained"] = retained,
            ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(default)",
            ["parameters"] = model.ParameterCount(),
            ["flops_per_token"] = FlopsPerToken(c, model.ParameterCount()),
        };
    }

    /// <summary>
    /// Training FLOPs per token (PaLM appendix B / nanoGPT's estimate_mfu): 6·N for the matmuls of N non-embedding-position
    /// parameters (the tied head counted once, as wte) plus 12·L·C·T for attention scores and values.
    /// </summary>
    public static double FlopsPerToken(TrainConfig c, long parameters)
    {
        long positions = (long)c.BlockSize * c.NEmbd;
        return 6.0 * (parameters - positions) + 12.0 * c.NLayer * c.NEmbd * c.BlockSize;
    }

    private static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;
}
