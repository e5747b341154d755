using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using ScottPlot;
using SharpSeek.Bench.Harness;
using SharpSeek.Generation;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Training;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Data;

namespace SharpSeek.Bench.Moe;

/// <summary>
/// <c>bench/run moe</c>: DeepSeek-V3-style training results on Tiny Shakespeare (char level), run sequentially through the
/// shared trainer: (a) expert load max/mean with aux-loss-free balancing γ = 1e-3 vs γ = 0; (b) MoE vs dense GPT-2 of equal
/// active parameters, same tokens and steps; (c) MTP λ = 0.3 vs 0 main-head val loss and self-speculative decoding;
/// (d) training tokens/s of both. Writes docs/moe-load.png and docs/moe-val-loss.png. Steps: 1,000 (100 with --quick,
/// or SHARPSEEK_MOE_STEPS).
/// </summary>
public sealed class MoeBenchmark : IBenchmark
{
    private const string DefaultCorpus = "/work/shared/data/tinyshakespeare/input.txt";
    private const int Batch = 8, Block = 64, Seed = 1337, ValIters = 20;

    private sealed record RunResult(string Name, TrainConfig Config, nn.Module Model, List<double[]> Imbalance, List<(int Step, double Val)> ValCurve,
        double MainValLoss, double TokensPerSecond, long TotalParams, long ActiveParams, double Seconds);

    public JsonObject Run(BenchContext context)
    {
        string corpus = Environment.GetEnvironmentVariable("SHARPSEEK_SHAKESPEARE") ?? DefaultCorpus;
        int steps = int.TryParse(Environment.GetEnvironmentVariable("SHARPSEEK_MOE_STEPS"), out int s) ? s : context.Quick ? 100 : 1000;
        string text = File.ReadAllText(corpus);
        var chars = text.Distinct().OrderBy(c => c).ToList();
        var index = chars.Select((c, i) => (c, i)).ToDictionary(x => x.c, x => x.i);
        var tokens = text.Select(c => index[c]).ToArray();
        context.Log($"corpus {corpus}: {tokens.Length:N0} chars, vocab {chars.Count}; {steps} steps of {Batch}×{Block} tokens per run");

        var result = new JsonObject
        {
            ["corpus"] = corpus, ["tokenizer"] = "char", ["vocab"] = chars.Count, ["steps"] = steps, ["batch_size"] = Batch, ["block_size"] = Block,
            ["threads"] = 1, ["note"] = "runs are sequential on a 2-core machine shared with other agents; see machine.load samples",
        };
        var runs = new List<RunResult>();
        void Save(RunResult r)
        {
            runs.Add(r);
            context.SampleLoad($"after {r.Name}");
            context.Log($"{r.Name}: main-head val loss {r.MainValLoss:F4}, {r.TokensPerSecond:F0} tokens/s, final max/mean {string.Join(", ", Final(r).Select(v => v.ToString("F3")))}");
            result["runs"] = new JsonArray(runs.Select(Describe).ToArray());
            Directory.CreateDirectory("bench/results");
            File.WriteAllText("bench/results/moe.partial.json", result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }

        var baseConfig = new TrainConfig
        {
            NLayer = 3, NHead = 4, NEmbd = 96, BatchSize = Batch, BlockSize = Block, MaxSteps = steps, Lr = 2e-3, MinLr = 2e-4,
            WarmupSteps = Math.Min(100, steps / 10), EvalInterval = Math.Max(steps / 5, 1), EvalIters = 10, LogInterval = 10,
            KeepLast = 1, Threads = 1, Seed = Seed, Precision = "fp32",   // as before precision auto became the default
            Model = new JsonObject
            {
                ["n_routed_experts"] = 8, ["num_experts_per_tok"] = 2, ["n_shared_experts"] = 1, ["n_group"] = 1, ["topk_group"] = 1,
                ["moe_intermediate_size"] = 96, ["intermediate_size"] = 256, ["first_k_dense_replace"] = 1,
                ["kv_lora_rank"] = 32, ["qk_rope_head_dim"] = 16, ["qk_nope_head_dim"] = 16, ["v_head_dim"] = 24,
            },
        };
        var ds = baseConfig with { Arch = "deepseek" };
        var main = Train(context, "deepseek_gamma1e-3_mtp0.3", ds with { BiasUpdateSpeed = 1e-3, MtpLossWeight = 0.3 }, tokens, chars.Count);
        Save(main);
        Save(Train(context, "deepseek_gamma0_mtp0.3", ds with { BiasUpdateSpeed = 0, MtpLossWeight = 0.3 }, tokens, chars.Count));
        Save(Train(context, "deepseek_gamma1e-3_mtp0", ds with { BiasUpdateSpeed = 1e-3, MtpLossWeight = 0, MtpDepth = 0 }, tokens, chars.Count));
        int gptWidth = EqualActiveWidth(main.ActiveParams, baseConfig, chars.Count);
        Save(Train(context, $"gpt2_dense_{gptWidth}", baseConfig with { Arch = "gpt2", NEmbd = gptWidth }, tokens, chars.Count));

        result["speculative"] = Speculative(context, (DeepSeekV3ForCausalLM)main.Model, tokens);
        result["summary"] = Summary(runs);
        PlotLoad(runs.Take(2).ToList(), "docs/moe-load.png", steps);
        PlotVal(runs, "docs/moe-val-loss.png");
        result["plots"] = new JsonArray("docs/moe-load.png", "docs/moe-val-loss.png");
        foreach (var r in runs) r.Model.Dispose();
        return result;
    }

    private static RunResult Train(BenchContext context, string name, TrainConfig config, int[] tokens, int vocab)
    {
        string outDir = Path.Combine(Path.GetTempPath(), "sharpseek-moe-bench", name + "-" + Guid.NewGuid().ToString("N")[..6]);
        var c = config with { OutDir = outDir };
        var data = TokenArrayBatchSource.Split(tokens, vocab, 0.9, Seed);
        CausalLM? model = null;
        var builder = TrainingModels.For(c, vocab);
        var imbalance = new List<double[]>();
        var valCurve = new List<(int, double)>();
        var stepSeconds = new List<double>();
        var last = Stopwatch.GetTimestamp();
        var trainer = new Trainer(c, data, dir => model = builder(dir))
        {
            RetainFreedMemory = true,
            OnStep = p =>
            {
                stepSeconds.Add(Stopwatch.GetElapsedTime(last).TotalSeconds);
                if (model is { ExpertLoadImbalance.Count: > 0 } report) imbalance.Add(report.ExpertLoadImbalance.ToArray());
                if (p.Step % 100 == 0) context.Log($"{name}: step {p.Step}/{p.MaxSteps} loss {p.Loss:F4}");
                last = Stopwatch.GetTimestamp();
            },
            OnEval = (step, e) => { valCurve.Add((step, e.Loss)); last = Stopwatch.GetTimestamp(); },
        };
        context.Log($"{name}: training");
        var clock = Stopwatch.StartNew();
        trainer.Run();
        double seconds = clock.Elapsed.TotalSeconds;
        var sorted = stepSeconds.OrderBy(x => x).ToList();
        double tokensPerSecond = c.TokensPerStep / sorted[sorted.Count / 2];
        long total = model!.parameters().Sum(p => p.numel());
        long active = total - InactiveExpertParams(model);
        double val = MainHeadValLoss((CausalLM)model, data);
        try { Directory.Delete(outDir, recursive: true); } catch (IOException) { }
        return new RunResult(name, c, model, imbalance, valCurve, val, tokensPerSecond, total, active, seconds);
    }

    /// <summary>Parameters of routed experts a token does not use: per MoE layer (E − k) experts (MTP modules excluded: not used at inference).</summary>
    private static long InactiveExpertParams(nn.Module model)
    {
        if (model is not DeepSeekV3ForCausalLM ds) return 0;
        long mtp = ds.Model.Mtp.Sum(m => m.parameters().Sum(p => p.numel()));
        long inactive = 0;
        foreach (var b in ds.Model.Blocks)
            if (b.Moe is { } moe)
            {
                long expert = moe.named_parameters().Where(p => p.name.StartsWith("experts.0.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());
                inactive += expert * (ds.Config.NRoutedExperts - ds.Config.NumExpertsPerTok);
            }
        return inactive + mtp;
    }

    /// <summary>GPT-2 width (multiple of n_head) whose parameter count is closest to <paramref name="active"/>.</summary>
    private static int EqualActiveWidth(long active, TrainConfig c, int vocab)
    {
        int best = c.NHead; long bestDiff = long.MaxValue;
        for (int w = c.NHead; w <= 512; w += c.NHead)
        {
            long v = (vocab + 63) / 64 * 64;
            long n = v * w + (long)c.BlockSize * w + c.NLayer * (12L * w * w + 13L * w) + 2 * w;   // GPT-2 with tied head
            if (Math.Abs(n - active) < bestDiff) { bestDiff = Math.Abs(n - active); best = w; }
        }
        return best;
    }

    /// <summary>Mean CE of the main head (no MTP or balance terms) on the same <see cref="ValIters"/> validation batches for every model.</summary>
    private static double MainHeadValLoss(CausalLM model, TokenArrayBatchSource data)
    {
        ((nn.Module)model).eval();
        using var _ = no_grad();
        data.Reseed(DataSplit.Val, 4242);
        double sum = 0;
        for (int i = 0; i < ValIters; i++)
        {
            using var scope = NewDisposeScope();
            var (x, y) = data.SampleBatch(DataSplit.Val, Batch, Block);
            var logits = model.Logits(x);                                                   // (B, T, V)
            sum += nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), y.view(-1)).item<float>();
        }
        return sum / ValIters;
    }

    private static JsonObject Speculative(BenchContext context, DeepSeekV3ForCausalLM model, int[] tokens)
    {
        int n = 5, prompt = 32, newTokens = 96;
        int valStart = (int)(tokens.Length * 0.9);
        var prompts = Enumerable.Range(0, n).Select(i => tokens[(valStart + 5000 * i)..(valStart + 5000 * i + prompt)]).ToList();
        SpeculativeDecoder.Greedy(model, prompts[0], 8);                                      // warm-up
        double greedySeconds = 0; int greedyTokens = 0;
        var greedyOut = new List<IReadOnlyList<int>>();
        foreach (var p in prompts)
        {
            var g = SpeculativeDecoder.Greedy(model, p, newTokens);
            greedySeconds += g.Elapsed.TotalSeconds; greedyTokens += g.Tokens.Count; greedyOut.Add(g.Tokens);
        }
        var rows = new JsonArray();
        foreach (int k in new[] { 1, 2, 3, 4 })
        {
            var dec = new SpeculativeDecoder(model, k);
            double sec = 0; int proposed = 0, accepted = 0, forwards = 0, made = 0; bool identical = true;
            for (int i = 0; i < prompts.Count; i++)
            {
                var r = dec.Generate(prompts[i], newTokens);
                sec += r.Elapsed.TotalSeconds; proposed += r.Proposed; accepted += r.Accepted; forwards += r.MainForwards; made += r.Tokens.Count;
                identical &= r.Tokens.SequenceEqual(greedyOut[i]);
            }
            double speedup = (made / sec) / (greedyTokens / greedySeconds);
            context.Log($"speculative k={k}: acceptance {(double)accepted / proposed:P1}, {made / (double)forwards:F2} tokens per main forward, speed-up {speedup:F2}×, identical {identical}");
            rows.Add(new JsonObject
            {
                ["draft_tokens"] = k, ["acceptance_rate"] = Math.Round((double)accepted / proposed, 4), ["tokens_per_main_forward"] = Math.Round(made / (double)forwards, 3),
                ["tokens_per_s"] = Math.Round(made / sec, 1), ["speedup_vs_greedy"] = Math.Round(speedup, 3), ["identical_to_greedy"] = identical,
            });
        }
        return new JsonObject
        {
            ["model"] = "deepseek_gamma1e-3_mtp0.3 (trained above)", ["prompts"] = n, ["prompt_tokens"] = prompt, ["new_tokens"] = newTokens,
            ["greedy_tokens_per_s"] = Math.Round(greedyTokens / greedySeconds, 1), ["by_draft_tokens"] = rows,
        };
    }

    private static double[] Final(RunResult r) =>
        r.Imbalance.Count == 0 ? [] : Enumerable.Range(0, r.Imbalance[0].Length).Select(l => r.Imbalance.TakeLast(50).Average(x => x[l])).ToArray();

    private static JsonObject Describe(RunResult r) => new()
    {
        ["name"] = r.Name, ["arch"] = r.Config.Arch, ["n_embd"] = r.Config.NEmbd, ["n_layer"] = r.Config.NLayer,
        ["bias_update_speed"] = r.Config.Arch == "deepseek" ? r.Config.BiasUpdateSpeed : null,
        ["mtp_loss_weight"] = r.Config.Arch == "deepseek" ? r.Config.MtpLossWeight : null,
        ["total_params"] = r.TotalParams, ["active_params"] = r.ActiveParams,
        ["main_head_val_loss"] = Math.Round(r.MainValLoss, 4),
        ["trainer_val_curve"] = new JsonArray(r.ValCurve.Select(v => (JsonNode)new JsonArray(v.Step, Math.Round(v.Val, 4))).ToArray()),
        ["train_tokens_per_s_median_step"] = Math.Round(r.TokensPerSecond, 1), ["wall_seconds"] = Math.Round(r.Seconds, 1),
        ["expert_load_max_over_mean_last50_steps"] = new JsonArray(Final(r).Select(v => (JsonNode)Math.Round(v, 3)).ToArray()),
        ["expert_load_max_over_mean_every_50_steps"] = new JsonArray(r.Imbalance.Where((_, i) => (i + 1) % 50 == 0)
            .Select(x => (JsonNode)new JsonArray(x.Select(v => (JsonNode)Math.Round(v, 3)).ToArray())).ToArray()),
    };

    private static JsonObject Summary(List<RunResult> runs)
    {
        RunResult Get(string name) => runs.First(r => r.Name == name);
        var bal = Get("deepseek_gamma1e-3_mtp0.3"); var noBal = Get("deepseek_gamma0_mtp0.3"); var noMtp = Get("deepseek_gamma1e-3_mtp0");
        var gpt = runs.First(r => r.Config.Arch == "gpt2");
        return new JsonObject
        {
            ["a_max_over_mean_main_moe_layers_gamma1e-3"] = new JsonArray(Final(bal).Take(bal.Config.NLayer - 1).Select(v => (JsonNode)Math.Round(v, 3)).ToArray()),
            ["a_max_over_mean_main_moe_layers_gamma0"] = new JsonArray(Final(noBal).Take(noBal.Config.NLayer - 1).Select(v => (JsonNode)Math.Round(v, 3)).ToArray()),
            ["b_val_loss_moe"] = Math.Round(bal.MainValLoss, 4), ["b_val_loss_dense_gpt"] = Math.Round(gpt.MainValLoss, 4),
            ["b_active_params_moe"] = bal.ActiveParams, ["b_params_dense_gpt"] = gpt.TotalParams,
            ["c_main_head_val_loss_mtp0.3"] = Math.Round(bal.MainValLoss, 4), ["c_main_head_val_loss_mtp0"] = Math.Round(noMtp.MainValLoss, 4),
            ["d_train_tokens_per_s_moe_without_mtp"] = Math.Round(noMtp.TokensPerSecond, 1), ["d_train_tokens_per_s_moe_with_mtp"] = Math.Round(bal.TokensPerSecond, 1),
            ["d_train_tokens_per_s_dense_gpt"] = Math.Round(gpt.TokensPerSecond, 1),
        };
    }

    private static void PlotLoad(List<RunResult> runs, string path, int steps)
    {
        var plot = new Plot();
        foreach (var r in runs)
        {
            if (r.Imbalance.Count == 0) continue;
            int layers = r.Imbalance[0].Length;
            for (int l = 0; l < layers; l++)
            {
                var ys = Smooth(r.Imbalance.Select(x => x[l]).ToArray(), 20);
                var line = plot.Add.Scatter(Enumerable.Range(1, ys.Length).Select(i => (double)i).ToArray(), ys);
                line.LegendText = $"γ={r.Config.BiasUpdateSpeed:G} layer {(l < r.Config.NLayer - 1 ? $"{l + 1}" : "MTP")}";
                line.MarkerSize = 0; line.LineWidth = 1.5f;
                if (r.Config.BiasUpdateSpeed == 0) line.LinePattern = LinePattern.Dashed;
            }
        }
        var target = plot.Add.HorizontalLine(1.3); target.LegendText = "target 1.3"; target.LinePattern = LinePattern.Dotted;
        plot.Title($"Expert load max/mean per MoE layer (20-step moving average), {steps} steps, no aux loss");
        plot.XLabel("step"); plot.YLabel("max load / mean load"); plot.ShowLegend();
        Save(plot, path);
    }

    private static void PlotVal(List<RunResult> runs, string path)
    {
        var plot = new Plot();
        foreach (var r in runs)
        {
            var line = plot.Add.Scatter(r.ValCurve.Select(v => (double)v.Step).ToArray(), r.ValCurve.Select(v => v.Val).ToArray());
            line.LegendText = $"{r.Name} (val {r.MainValLoss:F3} main head)"; line.LineWidth = 2;
        }
        plot.Title("Validation loss (trainer's estimate; DeepSeek runs include λ·MTP)");
        plot.XLabel("step"); plot.YLabel("val loss"); plot.ShowLegend();
        Save(plot, path);
    }

    private static void Save(Plot plot, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string tmp = path + ".tmp.png";
        plot.SavePng(tmp, 1000, 560);
        File.Move(tmp, path, overwrite: true);
    }

    private static double[] Smooth(double[] xs, int window) =>
        xs.Select((_, i) => xs.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Average()).ToArray();
}
