using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using static SharpSeek.Tests.Distributed.DataParallelTrainingTests;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Distributed;

/// <summary>bf16 gradient buckets and the synchronised DeepSeek router bias under <c>mpirun -np 2</c> (docs/distributed.md).</summary>
public class GradientReduceTests
{
    /// <summary>
    /// bf16 buckets against fp32 buckets, relative to the gradient's norm per tensor. Each rank's gradient is rounded to bf16
    /// (relative error ≤ 2⁻⁹) and their sum is rounded once more (≤ 2⁻⁹ of the sum), so each mean gradient element is off by
    /// at most 2⁻⁸·(|g₀| + |g₁|)/2 ≈ 0.4 % of the ranks' gradients; 1e-2 leaves room for elements where the ranks' gradients
    /// cancel. fp32 buckets differ from a 1-process run only by the summation order (≈1e-7).
    /// </summary>
    private const double Bf16GradientTolerance = 1e-2;

    /// <summary>
    /// One step of "AdamW" with β₁ = β₂ = 0, eps = 1, lr = 1, no decay, no clipping: the update is g/(|g| + 1), a monotone
    /// function of the averaged gradient g alone, so the weights after step 1 show the all-reduced gradient.
    /// </summary>
    private static readonly string[] GradientIsTheUpdate =
        ["--set", "warmup_steps=0", "--set", "lr=1", "--set", "min_lr=0", "--set", "eps=1", "--set", "beta1=0", "--set", "beta2=0",
         "--set", "weight_decay=0", "--set", "grad_clip=0", "--set", "checkpoint_interval=1", "--set", "keep_last=3"];

    private static Dictionary<string, Tensor> Weights(string outDir, int step)
    {
        using var f = SafeTensorsFile.Open(Path.Combine(outDir, CheckpointStore.DirName(step), "model.safetensors"));
        return f.Tensors.Keys.ToDictionary(n => n, f.Load);
    }

    [MpiFact]
    public void Train_Bf16Buckets_GradientsWithinBf16RoundingOfFp32Buckets()
    {
        using var tmp = new TempDir();
        using var scope = NewDisposeScope();
        string data = DataDir(tmp);
        var start = RunOne(TinyArgs(data, tmp["start"], [.. GradientIsTheUpdate, "--set", "lr=1e-30", "--set", "max_steps=1"]));   // moves no weight
        Assert.True(start.ExitCode == 0, start.Stderr + start.Stdout);
        var fp32 = MpiRun.Run(2, TinyArgs(data, tmp["fp32"], GradientIsTheUpdate));
        Assert.True(fp32.ExitCode == 0, fp32.Stderr + fp32.Stdout);
        var bf16 = MpiRun.Run(2, TinyArgs(data, tmp["bf16"], [.. GradientIsTheUpdate, "--set", "grad_reduce_dtype=bf16"]));
        Assert.True(bf16.ExitCode == 0, bf16.Stderr + bf16.Stdout);

        var w0 = Weights(tmp["start"], 1);
        var w32 = Weights(tmp["fp32"], 1);
        var w16 = Weights(tmp["bf16"], 1);
        double largestDifference = 0;
        foreach (var (name, p0) in w0)
        {
            var step32 = p0 - w32[name];                                                    // g/(|g|+1) of the fp32 mean
            var step16 = p0 - w16[name];
            double norm = step32.norm().item<float>(), error = (step16 - step32).norm().item<float>();
            Assert.True(error <= Bf16GradientTolerance * norm, $"{name}: ‖Δ‖ {error:E3} vs ‖update‖ {norm:E3}");
            largestDifference = Math.Max(largestDifference, (step16 - step32).abs().max().item<float>());
        }
        Assert.True(largestDifference > 0, "bf16 buckets gave the fp32 result bit for bit: they were not used");
        Assert.True(w0.Keys.Any(n => (w0[n] - w32[n]).abs().max().item<float>() > 1e-3), "the step moved no weight");

        // the losses of the next steps follow: to first order a gradient off by ≤ 1e-2 relative moves the loss by ≤ 1e-2 of its change
        var l32 = Losses(tmp["fp32"]);
        var l16 = Losses(tmp["bf16"]);
        Assert.Equal(l32[1], l16[1]);                                                      // same weights, same batch
        foreach (int step in new[] { 2, 3 })
            Assert.True(Math.Abs(l16[step] - l32[step]) <= Bf16GradientTolerance * Math.Abs(l32[step] - l32[1]) + 1e-6,
                        $"step {step}: {l16[step]} vs {l32[step]} (step 1: {l32[1]})");
    }

    [MpiFact]
    public void Train_TwoRanksBf16Buckets_ReportsAllreduceSecondsPerStep()
    {
        using var tmp = new TempDir();
        var r = MpiRun.Run(2, TinyArgs(DataDir(tmp), tmp["out"], "--set", "grad_reduce_dtype=bf16"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var steps = File.ReadLines(Path.Combine(tmp["out"], MetricsLog.FileName)).Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => o.ContainsKey("loss")).ToList();
        Assert.Equal(3, steps.Count);
        foreach (var s in steps)
        {
            double seconds = (double)s["metrics"]![Trainer.AllreduceSecondsMetric]!;
            Assert.True(seconds is > 0 and < 10, $"step {s["step"]}: {seconds} s");
        }
    }

    /// <summary>A tiny DeepSeek-V3 whose one layer and MTP module are MoE (4 experts, top 2), router bias speed 0.01.</summary>
    private static string DeepSeekConfig(TempDir tmp)
    {
        string path = tmp["deepseek.json"];
        File.WriteAllText(path, """
            {
              "arch": "deepseek", "model_preset": "tiny",
              "model": { "first_k_dense_replace": 0, "n_routed_experts": 4, "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1,
                         "moe_intermediate_size": 16, "intermediate_size": 32, "kv_lora_rank": 8, "qk_rope_head_dim": 4,
                         "qk_nope_head_dim": 4, "v_head_dim": 8 },
              "bias_update_speed": 0.01, "mtp_depth": 1
            }
            """);
        return path;
    }

    [MpiFact]
    public void Train_DeepSeekRouterBiasTwoRanks_MatchesOneProcess()
    {
        using var tmp = new TempDir();
        using var scope = NewDisposeScope();
        string data = DataDir(tmp), config = DeepSeekConfig(tmp);
        string[] Args(string outDir) => TinyArgs(data, tmp[outDir], "--config", config, "--set", "max_steps=4", "--set", "eval_interval=4",
                                                 "--set", "checkpoint_interval=1", "--set", "keep_last=4");
        var one = RunOne(Args("one"));
        Assert.True(one.ExitCode == 0, one.Stderr + one.Stdout);
        var two = MpiRun.Run(2, Args("two"));
        Assert.True(two.ExitCode == 0, two.Stderr + two.Stdout);

        var expected = Losses(tmp["one"]);
        var actual = Losses(tmp["two"]);
        Assert.Equal([1, 2, 3, 4], actual.Keys.Order());
        foreach (var (step, loss) in expected) Assert.True(Math.Abs(actual[step] - loss) <= 1e-5, $"step {step}: {actual[step]} vs {loss}");

        bool moved = false;
        for (int step = 1; step <= 4; step++)                                               // the biases move by ±γ and may return to 0
        {
            var a = Weights(tmp["one"], step);
            var b = Weights(tmp["two"], step);
            var biases = a.Keys.Where(n => n.EndsWith("e_score_correction_bias", StringComparison.Ordinal)).ToList();
            Assert.Equal(2, biases.Count);                                                  // layer 0 and the MTP module
            foreach (var name in biases)
            {
                moved |= a[name].abs().max().item<float>() > 0;
                double diff = (a[name] - b[name]).abs().max().item<float>();
                Assert.True(diff <= 1e-5, $"step {step} {name}: max |Δ| {diff} ({string.Join(", ", a[name].data<float>().ToArray())} vs {string.Join(", ", b[name].data<float>().ToArray())})");
            }
            foreach (var name in a.Keys) Assert.True((a[name] - b[name]).abs().max().item<float>() <= 1e-5, $"step {step} {name}");
        }
        Assert.True(moved, "the router biases never moved");
    }
}
