using System.Text.Json.Nodes;
using SharpSeek.Bench.Harness;

namespace SharpSeek.Bench.Train;

/// <summary>
/// <c>bench/run train</c>: training tokens/s on config A (6L 6H 384C, vocab 50304) and config B (5L, vocab 4096), block 256,
/// batch 8, AdamW: SharpSeek fp32, SharpSeek bf16 (fp32 master weights) and PyTorch fp32 (Debian python3-torch + OpenBLAS),
/// all in one run, with ratios and MFU against the bf16 matmul peak measured in the same run. Each measurement runs in a
/// fresh process; each side gets its best thread settings from a small sweep.
/// </summary>
public sealed class TrainBenchmark : IBenchmark
{
    private const string OpenBlasDir = "/usr/lib/x86_64-linux-gnu/openblas-pthread";

    /// <summary>One measured variant ("sharpseek_fp32", "sharpseek_bf16", "pytorch") with its thread/environment settings.</summary>
    private sealed record Setting(string Variant, int Threads, string? WaitPolicy, int? OpenBlasThreads = null)
    {
        public bool IsPyTorch => Variant == "pytorch";

        public Dictionary<string, string?> Environment()
        {
            var env = new Dictionary<string, string?> { ["OMP_NUM_THREADS"] = Threads.ToString(), ["OMP_WAIT_POLICY"] = WaitPolicy };
            if (IsPyTorch)
            {
                string ld = System.Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "";
                env["LD_LIBRARY_PATH"] = ld.Length == 0 ? OpenBlasDir : $"{OpenBlasDir}:{ld}";
                env["OPENBLAS_NUM_THREADS"] = OpenBlasThreads?.ToString();
            }
            return env;
        }

        public JsonObject ToJson()
        {
            var o = new JsonObject { ["threads"] = Threads, ["omp_wait_policy"] = WaitPolicy ?? "(default)" };
            if (IsPyTorch)
            {
                o["openblas_num_threads"] = OpenBlasThreads?.ToString() ?? "(default)";
                o["blas"] = $"OpenBLAS pthread via LD_LIBRARY_PATH={OpenBlasDir}";
            }
            return o;
        }
    }

    public JsonObject Run(BenchContext context)
    {
        bool quick = context.Quick;
        int steps = quick ? 3 : 6, warmup = 2;
        string python = System.Environment.GetEnvironmentVariable("SHARPSEEK_BENCH_PYTHON") ?? "/usr/bin/python3";
        string script = Repo.File("bench/baselines/train_pytorch.py");
        string[] configs = ["config_a", "config_b"];
        string? bf16Skip = Bf16Gate.SkipReason();                    // no native bf16: its measurements would take hours
        if (bf16Skip is not null) context.Log($"skipping bf16: {bf16Skip}");
        var failures = new JsonArray();                              // workers that timed out or failed: recorded, not fatal

        var peaks = new List<JsonObject>();
        void Peak(string dtype)
        {
            var (file, args) = ChildProcess.Self(["worker", "matmul", "--dtype", dtype, "--threads", "2"]);
            var r = ChildProcess.RunJsonOrFailure(file, args, new Dictionary<string, string?> { ["OMP_NUM_THREADS"] = "2", ["OMP_WAIT_POLICY"] = "PASSIVE" }, TimeSpan.FromMinutes(5));
            r["load1"] = Machine.LoadAverage1();
            if (r["failed"] is not null) { r["dtype"] = dtype; r["worker"] = "matmul"; failures.Add(r); context.Log($"  matmul peak {dtype} failed: {r["failed"]}"); return; }
            peaks.Add(r);
            context.Log($"  matmul peak {dtype}: {r["gflops"]} GFLOP/s");
        }
        context.Log("matmul peaks (2048³, 2 threads)…");
        if (bf16Skip is null) Peak("bf16");
        Peak("fp32");

        var runs = new List<JsonObject>();
        var best = new Dictionary<(string Config, string Variant), (Setting Setting, double Rate, JsonObject Run)>();
        void Measure(string config, Setting s, string phase)
        {
            var common = new[] { "--config", config, "--threads", s.Threads.ToString(), "--steps", steps.ToString(), "--warmup", warmup.ToString() };
            JsonObject r;
            if (s.IsPyTorch) r = ChildProcess.RunJsonOrFailure(python, [script, .. common], s.Environment(), TimeSpan.FromMinutes(15));
            else
            {
                var (file, args) = ChildProcess.Self(["worker", "train", .. common, "--precision", s.Variant == "sharpseek_bf16" ? "bf16" : "fp32"]);
                r = ChildProcess.RunJsonOrFailure(file, args, s.Environment(), TimeSpan.FromMinutes(15));
            }
            r["variant"] = s.Variant;
            r["phase"] = phase;
            r["settings"] = s.ToJson();
            r["load1"] = Machine.LoadAverage1();
            if (r["failed"] is not null)
            {
                r["config"] = config;
                failures.Add(r);
                context.Log($"  {s.Variant,-15} {config} failed: {r["failed"]}");
                return;
            }
            runs.Add(r);
            double rate = (double)r["tokens_per_s"]!;
            if (!best.TryGetValue((config, s.Variant), out var b) || rate > b.Rate) best[(config, s.Variant)] = (s, rate, r);
            context.Log($"  {s.Variant,-15} {config} threads={s.Threads} wait={s.WaitPolicy ?? "-"} openblas={s.OpenBlasThreads?.ToString() ?? "-"}: {rate:F0} tok/s (load {r["load1"]})");
        }

        // Settings: PASSIVE won every earlier comparison here (libtorch's OpenMP threads otherwise spin against other work);
        // the full run also tries the defaults and, for PyTorch, OpenBLAS thread counts.
        List<Setting> settings = quick
            ? [new("sharpseek_fp32", 2, "PASSIVE"), new("sharpseek_bf16", 2, "PASSIVE"), new("pytorch", 2, "PASSIVE", 1)]
            : [new("sharpseek_fp32", 2, "PASSIVE"), new("sharpseek_bf16", 2, "PASSIVE"), new("pytorch", 2, "PASSIVE", 1),
               new("sharpseek_fp32", 2, null), new("sharpseek_bf16", 2, null), new("pytorch", 2, null, 1),
               new("pytorch", 2, "PASSIVE", 2), new("pytorch", 2, null, 2)];
        if (bf16Skip is not null) settings.RemoveAll(s => s.Variant == "sharpseek_bf16");
        foreach (var config in configs)
        {
            context.Log($"{config}: settings sweep…");
            foreach (var s in settings) Measure(config, s, "sweep");
        }
        if (!quick)
        {
            context.Log("final round (best settings, variants alternated)…");
            foreach (var config in configs)
                foreach (var variant in new[] { "sharpseek_bf16", "pytorch", "sharpseek_fp32" })
                    if (best.TryGetValue((config, variant), out var b)) Measure(config, b.Setting, "final");
        }
        if (bf16Skip is null)
        {
            context.Log("matmul peak bf16 again…");
            Peak("bf16");
        }
        double? PeakOf(string dtype) => peaks.Where(p => (string)p["dtype"]! == dtype).Select(p => (double?)(double)p["gflops"]!).Max();
        double? bf16Peak = PeakOf("bf16"), fp32Peak = PeakOf("fp32");

        var result = new JsonObject();
        foreach (var config in configs)
        {
            double? Rate(string v) => best.TryGetValue((config, v), out var b) ? b.Rate : null;
            JsonObject? Run(string v) => best.TryGetValue((config, v), out var b) ? b.Run : null;
            JsonNode? Round(double? v, int digits) => v is { } x ? Math.Round(x, digits) : null;
            JsonNode? RateOrWhy(string v) => Rate(v) is { } r ? Math.Round(r, 1)
                : v == "sharpseek_bf16" && bf16Skip is not null ? new JsonObject { ["skipped"] = bf16Skip }
                : new JsonObject { ["failed"] = "every run of this variant failed (see failures)" };
            double? flopsPerToken = (Run("sharpseek_bf16") ?? Run("sharpseek_fp32"))?["flops_per_token"] is { } f ? (double)f : null;
            result[config] = new JsonObject
            {
                ["tokens_per_s"] = new JsonObject
                {
                    ["sharpseek_fp32"] = RateOrWhy("sharpseek_fp32"),
                    ["sharpseek_bf16"] = RateOrWhy("sharpseek_bf16"),
                    ["pytorch"] = RateOrWhy("pytorch"),
                },
                ["ratio_bf16_vs_pytorch"] = Round(Rate("sharpseek_bf16") / Rate("pytorch"), 3),
                ["ratio_fp32_vs_pytorch"] = Round(Rate("sharpseek_fp32") / Rate("pytorch"), 3),
                ["mfu_bf16"] = Round(Rate("sharpseek_bf16") * flopsPerToken / (bf16Peak * 1e9), 4),
                ["mfu_fp32_vs_fp32_peak"] = Round(Rate("sharpseek_fp32") * flopsPerToken / (fp32Peak * 1e9), 4),
                ["flops_per_token"] = flopsPerToken,
                ["parameters"] = (Run("sharpseek_bf16") ?? Run("sharpseek_fp32"))?["parameters"]?.DeepClone(),
                ["phase_seconds_per_step"] = new JsonObject
                {
                    ["sharpseek_fp32"] = Run("sharpseek_fp32")?["phase_seconds_per_step"]?.DeepClone(),
                    ["sharpseek_bf16"] = Run("sharpseek_bf16")?["phase_seconds_per_step"]?.DeepClone(),
                },
                ["settings"] = new JsonObject
                {
                    ["sharpseek_fp32"] = best.TryGetValue((config, "sharpseek_fp32"), out var f32) ? f32.Setting.ToJson() : null,
                    ["sharpseek_bf16"] = best.TryGetValue((config, "sharpseek_bf16"), out var b16) ? b16.Setting.ToJson() : null,
                    ["pytorch"] = best.TryGetValue((config, "pytorch"), out var pt) ? pt.Setting.ToJson() : null,
                },
            };
        }
        result["matmul_peak_gflops"] = new JsonObject
        {
            ["bf16"] = bf16Peak is { } bp ? bp : bf16Skip is not null ? new JsonObject { ["skipped"] = bf16Skip } : null,
            ["fp32"] = fp32Peak,
        };
        result["matmul_peaks"] = new JsonArray(peaks.Select(p => (JsonNode)p).ToArray());
        if (bf16Skip is not null) result["skipped"] = new JsonObject { ["sharpseek_bf16"] = bf16Skip, ["matmul_peak_bf16"] = bf16Skip, ["mfu_bf16"] = bf16Skip };
        if (failures.Count > 0) result["failures"] = failures;
        result["definitions"] = new JsonObject
        {
            ["tokens_per_s"] = $"batch 8 × block 256 tokens per optimizer step (forward, cross-entropy, backward, clip 1.0, AdamW) on random tokens, mean over {steps} timed steps after {warmup} warm-up step(s); best run of that variant",
            ["mfu_bf16"] = "tokens_per_s(sharpseek_bf16) × flops_per_token ÷ bf16 matmul peak (best 2048³ bf16 matmul of this run)",
            ["flops_per_token"] = "6 × parameters (excluding position embeddings; tied head counted once) + 12 × n_layer × n_embd × block_size (nanoGPT estimate_mfu)",
            ["sharpseek_bf16"] = "bf16 matmuls (Linear layers, causal attention, tied head fused with the loss) and bf16 activations inside each block (LayerNorm output to residual add), with fp32 master weights, residual stream, AdamW state, norms and loss (CausalLM.ComputeDType)",
            ["pytorch"] = "bench/baselines/train_pytorch.py: Debian python3-torch fp32, same model, batch, AdamW groups and clip",
            ["skipped / failures"] = "bf16 parts are skipped where the CPU has no native bf16 (Harness/Bf16Gate; SHARPSEEK_CPU_BF16=emulated forces it); a worker that times out or fails is listed under failures and the run goes on",
        };
        result["runs"] = new JsonArray(runs.Select(r => (JsonNode)r).ToArray());
        return result;
    }
}
