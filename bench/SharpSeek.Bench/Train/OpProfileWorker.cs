using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using SharpSeek.Bench.Harness;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;
using SharpSeek.Kernels;

namespace SharpSeek.Bench.Train;

/// <summary>
/// Per-op timings of the config-A training step's output side (<c>SharpSeek.Bench worker ops</c>, seconds): the tied
/// 50k-vocab head matmuls and the cross-entropy (forward + backward) in fp32 and bf16, and the fused head + loss
/// (<see cref="LanguageModelLoss.LinearCrossEntropy"/>) with its three matmuls one by one.
/// </summary>
public static class OpProfileWorker
{
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        int threads = a.Int("threads", 2), rows = a.Int("rows", 2048), vocab = a.Int("vocab", 50304), width = a.Int("width", 384);
        torch.set_num_threads(threads);
        if (a.Get("retain-heap", "1") == "1") NativeHeap.RetainFreedMemory();
        torch.manual_seed(1);
        var result = new JsonObject();
        void Time(string name, Action body) => result[name] = Math.Round(BestOf.Seconds(body, warmup: 1, repeats: 3), 4);
        using var h = torch.randn([rows, width]);
        using var w = torch.randn([vocab, width]) * 0.02;
        using var y = torch.randint(0, vocab, [rows], ScalarType.Int64);
        foreach (var dt in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            string tag = dt == ScalarType.Float32 ? "fp32" : "bf16";
            Time($"head_matmul_{tag}", () => { using var s = NewDisposeScope(); using var _ = no_grad(); nn.functional.linear(h.to(dt), w.to(dt)); });
            Time($"head_matmul_fwd_bwd_{tag}", () =>
            {
                using var s = NewDisposeScope();
                var hh = h.detach().requires_grad_(true); var ww = w.detach().requires_grad_(true);
                var logits = nn.functional.linear(hh.to(dt), ww.to(dt));
                logits.backward([torch.ones_like(logits)]);
            });
        }
        using var logits32 = torch.randn([rows, vocab]);
        Time("cross_entropy_fwd_fp32", () => { using var s = NewDisposeScope(); using var _ = no_grad(); nn.functional.cross_entropy(logits32, y); });
        Time("cross_entropy_fwd_bwd_fp32", () =>
        {
            using var s = NewDisposeScope();
            var l = logits32.detach().requires_grad_(true);
            nn.functional.cross_entropy(l, y).backward();
        });
        Time("log_softmax_fp32", () => { using var s = NewDisposeScope(); using var _ = no_grad(); logits32.log_softmax(-1); });
        Time("cast_logits_fp32_to_bf16", () => { using var s = NewDisposeScope(); logits32.to(ScalarType.BFloat16); });
        Time("full_head_and_loss_fwd_bwd_bf16", () =>
        {
            using var s = NewDisposeScope();
            var hh = h.detach().requires_grad_(true); var ww = w.detach().requires_grad_(true);
            var logits = nn.functional.linear(hh.to(ScalarType.BFloat16), ww.to(ScalarType.BFloat16)).to(ScalarType.Float32);
            nn.functional.cross_entropy(logits, y).backward();
        });
        Time("full_head_and_loss_fwd_bwd_fp32", () =>
        {
            using var s = NewDisposeScope();
            var hh = h.detach().requires_grad_(true); var ww = w.detach().requires_grad_(true);
            nn.functional.cross_entropy(nn.functional.linear(hh, ww), y).backward();
        });
        // The fused tied head + loss as bf16 training runs it, and its three matmuls one by one.
        using var hb = h.to(ScalarType.BFloat16);
        using var wb = w.to(ScalarType.BFloat16);
        using var logits16 = torch.mm(hb, wb.t());
        Time("head_logits_mm_bf16", () => { using var s = NewDisposeScope(); using var _ = no_grad(); torch.mm(hb, wb.t()); });
        Time("head_grad_h_mm_bf16", () => { using var s = NewDisposeScope(); using var _ = no_grad(); torch.mm(logits16, wb); });
        Time("head_grad_w_mm_bf16", () => { using var s = NewDisposeScope(); using var _ = no_grad(); torch.mm(logits16.t(), hb); });
        Time("linear_cross_entropy_bf16_fwd_bwd", () =>
        {
            using var s = NewDisposeScope();
            var hh = h.detach().requires_grad_(true); var ww = w.detach().requires_grad_(true);
            LanguageModelLoss.LinearCrossEntropy(hh, ww, y, ScalarType.BFloat16).backward();
        });
        result["threads"] = torch.get_num_threads();
        return result;
    }
}
