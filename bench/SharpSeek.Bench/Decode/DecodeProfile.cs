using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using SharpSeek.Models.Common;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Kernels;

namespace SharpSeek.Bench.Decode;

/// <summary>
/// Where SharpSeek's per-token decode time goes (<c>SharpSeek.Bench worker decode-profile --config NAME</c>):
/// one decode step through the model against the matmuls alone in several forms (linear, mv, pre-transposed,
/// bf16 weights), small ops, attention at T = 1, 1 vs 2 threads. Every variant is timed round-robin, one pass at a
/// time, and reported as min and median over the trials, so load from other jobs on the machine hits all alike.
/// </summary>
public static class DecodeProfile
{
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        string configName = a.Get("config", "config_a");
        int threads = a.Int("threads", 2), trials = a.Int("trials", 40);
        var config = DecodeWorker.Configs[configName];
        torch.set_num_threads(threads);
        torch.manual_seed(1234);
        using var model = new Gpt2LMHeadModel(config);
        model.eval();
        using var noGrad = torch.no_grad();
        double weightBytes = model.ParameterCount() * 4.0;
        var variants = new List<(string Name, double Bytes, int Ops, Action Pass)>();

        // The whole decode step through the model (a cache that is rewound each trial: 16 cached tokens).
        using var cache = model.CreateKvCache(1, 64);
        using (var s = torch.NewDisposeScope()) model.Logits(torch.randint(0, config.VocabSize, [1, 16], ScalarType.Int64), cache);
        using var token = torch.tensor(new long[] { 42 }).view(1, 1);
        variants.Add(("model_step", weightBytes, 1, () =>
        {
            using var s = torch.NewDisposeScope();
            model.Logits(token, cache).select(1, -1).argmax(-1, keepdim: true).item<long>();
            cache.Truncate(16);
        }));

        // The matmuls alone, in the model's order (qkv, proj, fc, proj per layer; then the tied head).
        var named = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var w = new List<(Tensor W, Tensor? B)>();
        for (int l = 0; l < config.NLayer; l++)
            foreach (var m in new[] { "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj" })
                w.Add((named[$"transformer.h.{l}.{m}.weight"], named[$"transformer.h.{l}.{m}.bias"]));
        w.Add((named["transformer.wte.weight"], null));
        var x3 = w.Select(p => torch.randn(1, 1, p.W.shape[1])).ToList();                 // (1, 1, in)
        var x2 = x3.Select(x => x.view(1, -1)).ToList();                                   // (1, in)
        var x1 = x3.Select(x => x.view(-1)).ToList();                                      // (in)
        variants.Add(("linear_3d", weightBytes, w.Count, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < w.Count; i++) nn.functional.linear(x3[i], w[i].W, w[i].B); }));
        variants.Add(("linear_2d", weightBytes, w.Count, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < w.Count; i++) nn.functional.linear(x2[i], w[i].W, w[i].B); }));
        variants.Add(("addmv", weightBytes, w.Count, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < w.Count; i++) { if (w[i].B is { } b) torch.addmv(b, w[i].W, x1[i], 1, 1); else torch.mv(w[i].W, x1[i]); } }));
        var wt = w.Select(p => p.W.t().contiguous()).ToList();                             // (in, out)
        variants.Add(("matmul_pretransposed", weightBytes, w.Count, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < w.Count; i++) torch.matmul(x2[i], wt[i]); }));
        variants.Add(("addmm_pretransposed", weightBytes, w.Count, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < w.Count; i++) { if (w[i].B is { } b) torch.addmm(b, x2[i], wt[i], 1, 1); else torch.mm(x2[i], wt[i]); } }));
        var wtT = wt.Select(t => t.t()).ToList();                                          // (out, in) view of (in, out) storage
        variants.Add(("linear_on_transposed_storage", weightBytes, w.Count, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < w.Count; i++) nn.functional.linear(x2[i], wtT[i], w[i].B); }));
        var wc = w.Select(p => p.W.detach().contiguous()).ToList();
        var bc = w.Select(p => p.B?.detach().contiguous()).ToList();
        foreach (int n in new[] { 2, 1 })    // the library's one-row GEMV (DecodeGemv uses torch.get_num_threads() threads)
            variants.Add(($"csharp_gemv_{n}_thread{(n > 1 ? "s" : "")}", weightBytes, w.Count, () =>
            {
                using var s = torch.NewDisposeScope();
                int before = torch.get_num_threads();
                torch.set_num_threads(n);
                using (torch.no_grad()) for (int i = 0; i < w.Count; i++) SharpSeek.Kernels.DecodeGemv.Linear(x1[i], wc[i], bc[i]);
                torch.set_num_threads(before);
            }));
        string? bf16Skip = SharpSeek.Bench.Harness.Bf16Gate.SkipReason();   // emulated bf16 would dominate the run
        if (bf16Skip is null)
        {
            var wbf = w.Select(p => p.W.to(ScalarType.BFloat16)).ToList();
            var xbf = x2.Select(x => x.to(ScalarType.BFloat16)).ToList();
            variants.Add(("linear_bf16", weightBytes / 2, w.Count, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < w.Count; i++) nn.functional.linear(xbf[i], wbf[i]); }));
        }

        // Small ops: the fixed cost TorchSharp + LibTorch pay per call (100 calls per pass).
        using var small = torch.randn(1, 1, config.NEmbd);
        using var ln = nn.LayerNorm(config.NEmbd);
        using var h4 = torch.randn(1, 1, 4 * config.NEmbd);
        variants.Add(("op_add_x100", 0, 100, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < 100; i++) small.add(small); }));
        variants.Add(("op_view_x100", 0, 100, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < 100; i++) small.view(-1); }));
        variants.Add(("op_layernorm_x100", 0, 100, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < 100; i++) ln.call(small); }));
        variants.Add(("op_gelu4c_x100", 0, 100, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < 100; i++) nn.functional.gelu(h4, TorchSharp.Modules.GELU.Approximate.tanh); }));

        // Attention at T = 1 over 64 cached keys: SDPA vs explicit matmuls (x 10 per pass).
        int hd = config.NEmbd / config.NHead;
        using var q = torch.randn(1, config.NHead, 1, hd);
        using var k = torch.randn(1, config.NHead, 64, hd);
        using var v = torch.randn(1, config.NHead, 64, hd);
        double scale = 1.0 / Math.Sqrt(hd);
        variants.Add(("sdpa_t1_x10", 0, 10, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < 10; i++) nn.functional.scaled_dot_product_attention(q, k, v); }));
        variants.Add(("manual_attention_t1_x10", 0, 10, () => { using var s = torch.NewDisposeScope(); for (int i = 0; i < 10; i++) torch.matmul(torch.matmul(q, k.transpose(-2, -1)).mul_(scale).softmax(-1), v); }));

        var times = variants.ToDictionary(v => v.Name, _ => new List<double>());
        var cpu = variants.ToDictionary(v => v.Name, _ => new List<double>());
        foreach (var variant in variants) variant.Pass();                                  // warm up
        var oneThread = new List<double>();
        for (int t = 0; t < trials; t++)
        {
            foreach (var variant in variants)
            {
                double c0 = CpuMs();
                long t0 = Stopwatch.GetTimestamp();
                variant.Pass();
                times[variant.Name].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                cpu[variant.Name].Add(CpuMs() - c0);
            }
            torch.set_num_threads(1);
            long t1 = Stopwatch.GetTimestamp();
            variants[0].Pass();
            oneThread.Add(Stopwatch.GetElapsedTime(t1).TotalMilliseconds);
            torch.set_num_threads(threads);
        }

        var result = new JsonObject
        {
            ["config"] = configName, ["threads"] = threads, ["trials"] = trials,
            ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "(default)",
            ["weight_mb"] = weightBytes / 1e6,
        };
        foreach (var (name, bytes, ops, _) in variants)
        {
            result[name] = Summary(times[name], bytes, ops);
            ((JsonObject)result[name]!)["cpu_ms_mean"] = Math.Round(cpu[name].Average(), 4);
        }
        result["model_step_1_thread"] = Summary(oneThread, weightBytes, 1);
        if (bf16Skip is not null) result["linear_bf16"] = new JsonObject { ["skipped"] = bf16Skip };
        return result;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage { public long UtimeSec, UtimeUsec, StimeSec, StimeUsec; public long F0, F1, F2, F3, F4, F5, F6, F7, F8, F9, F10, F11, F12, F13; }

    [DllImport("libc", EntryPoint = "getrusage")]
    private static extern int GetRUsage(int who, out RUsage usage);

    /// <summary>CPU time of this process (all threads), ms: robust to other jobs taking the cores, unlike wall time.</summary>
    internal static double CpuMs()
    {
        GetRUsage(0, out var u);
        return (u.UtimeSec + u.StimeSec) * 1000.0 + (u.UtimeUsec + u.StimeUsec) / 1000.0;
    }

    private static JsonObject Summary(List<double> ms, double bytes, int ops)
    {
        var sorted = ms.OrderBy(x => x).ToList();
        double min = sorted[0], median = sorted[sorted.Count / 2];
        var o = new JsonObject { ["min_ms"] = Math.Round(min, 4), ["median_ms"] = Math.Round(median, 4), ["us_per_call_min"] = Math.Round(min * 1000 / ops, 2) };
        if (bytes > 0) o["gbps_at_min"] = Math.Round(bytes / min / 1e6, 2);
        return o;
    }
}
