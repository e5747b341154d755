using System.Diagnostics;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using SharpSeek.Models.Gpt2;
using SharpSeek.Training;
using SharpSeek.Training.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Bench.Train;

/// <summary>
/// Per-op timings of one config-A transformer block in training (<c>SharpSeek.Bench worker trunk</c>): each Linear,
/// LayerNorm, GELU and attention forward + backward in fp32 and bf16, and the whole block, to see where the trunk's
/// share of a bf16 step goes.
/// </summary>
public static class TrunkProfileWorker
{
    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        int threads = a.Int("threads", 2), batch = a.Int("batch", 8), block = a.Int("block", 256), width = a.Int("width", 384), heads = a.Int("heads", 6);
        torch.set_num_threads(threads);
        if (a.Get("retain-heap", "1") == "1") NativeHeap.RetainFreedMemory();
        torch.manual_seed(1);
        var result = new JsonObject();
        void Time(string name, Action body)
        {
            body(); body();
            var best = double.MaxValue;
            for (int i = 0; i < 5; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                body();
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            result[name] = Math.Round(best * 1000, 2);
        }
        long n = (long)batch * block;
        var bf = ScalarType.BFloat16;
        if (a.Get("only", "") == "optim")
        {
            var c = TrainWorker.Configs["config_a"];
            using var m = new Gpt2LMHeadModel(TrainingModels.Gpt2(c, c.VocabSize));
            var groups = ParamGroups.Assign(m, c.DecayEmbeddings);
            var ps = groups.All.ToList();
            using var opt = groups.CreateAdamW(c);
            using (var s0 = NewDisposeScope())
            {
                var l = LanguageModelLoss.Compute(m, torch.randint(0, c.VocabSize, [2, 64], ScalarType.Int64), torch.randint(0, c.VocabSize, [2, 64], ScalarType.Int64));
                l.backward();
            }
            Time("clip_grad_norm", () => { using var s = NewDisposeScope(); nn.utils.clip_grad_norm_(ps, 1.0); });
            Time("adamw_step", () => { using var s = NewDisposeScope(); opt.step(); });
            Time("copy_all_params", () => { using var s = NewDisposeScope(); foreach (var p in ps) p.grad!.clone(); });
            result["unit"] = "ms (best of 5)";
            return result;
        }
        if (a.Get("only", "") == "head")
        {
            int vocab = a.Int("vocab", 50304);
            using var hh0 = torch.randn([n, width]);
            using var ww0 = torch.randn([vocab, width]) * 0.02;
            using var yy = torch.randint(0, vocab, [n], ScalarType.Int64);
            using var hb = hh0.to(ScalarType.BFloat16); using var wb = ww0.to(ScalarType.BFloat16);
            Time("head_three_matmuls_bf16", () =>
            {
                using var s = NewDisposeScope(); using var g = no_grad();
                var logits = torch.mm(hb, wb.t());
                torch.mm(logits, wb); torch.mm(logits.t(), hb);
            });
            using var gg = torch.mm(hb, wb.t());
            Time("head_logits_mm", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(hb, wb.t()); });
            Time("head_grad_h_mm", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(gg, wb); });
            Time("head_grad_w_mm", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(gg.t(), hb); });
            Time("head_grad_w_mm_to_fp32", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(gg.t(), hb).to(ScalarType.Float32); });
            using var ggT = gg.t().contiguous();
            Time("head_grad_wT_mm", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(hb.t(), gg); });
            using var hbT = hb.t().contiguous();
            Time("head_grad_wT_mm_hT_contig", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(hbT, gg); });
            using var wbT = wb.t().contiguous();
            Time("head_logits_mm_wT_contig", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(hb, wbT); });
            Time("head_grad_h_mm_wT_view", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(gg, wbT.t()); });
            Time("transpose_copy_g", () => { using var s = NewDisposeScope(); gg.t().contiguous(); });
            Time("head_grad_w_mm_pretransposed", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.mm(ggT, hb); });
            Time("head_three_matmuls_bf16_chunked256", () =>
            {
                using var s = NewDisposeScope(); using var g = no_grad();
                var buf = torch.empty([n, vocab], ScalarType.BFloat16);
                for (long st = 0; st < n; st += 256) buf.narrow(0, st, 256).copy_(torch.mm(hb.narrow(0, st, 256), wb.t()));
                torch.mm(buf, wb); torch.mm(buf.t(), hb);
            });
            Time("linear_cross_entropy_bf16_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var h = hh0.detach().requires_grad_(true); var w = ww0.detach().requires_grad_(true);
                LanguageModelLoss.LinearCrossEntropy(h, w, yy, ScalarType.BFloat16).backward();
            });
            result["unit"] = "ms (best of 5)";
            return result;
        }
        if (a.Get("only", "") != "block")
        foreach (var (inF, outF) in new[] { (width, 3 * width), (width, width), (width, 4 * width), (4 * width, width) })
        {
            using var x = torch.randn([n, inF]);
            using var w = torch.randn([outF, inF]) * 0.02;
            using var bias = torch.zeros([outF]);
            using var xb = x.to(bf); using var wb = w.to(bf); using var bb = bias.to(bf);
            string tag = $"{inF}x{outF}";
            Time($"linear_{tag}_fp32_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = x.detach().requires_grad_(true); var ww = w.detach().requires_grad_(true); var b = bias.detach().requires_grad_(true);
                var y = nn.functional.linear(xx, ww, b); y.backward([torch.ones_like(y)]);
            });
            Time($"linear_{tag}_hooked_bf16_fwd_bwd", () =>   // what Bf16Compute does: casts in and out around a bf16 linear
            {
                using var s = NewDisposeScope();
                var xx = x.detach().requires_grad_(true); var ww = w.detach().requires_grad_(true); var b = bias.detach().requires_grad_(true);
                var y = nn.functional.linear(xx.to(bf), ww.to(bf), b.to(bf)).to(ScalarType.Float32); y.backward([torch.ones_like(y)]);
            });
            Time($"linear_{tag}_pure_bf16_fwd_bwd", () =>     // bf16 activations and weights, no casts
            {
                using var s = NewDisposeScope();
                var xx = xb.detach().requires_grad_(true); var ww = wb.detach().requires_grad_(true); var b = bb.detach().requires_grad_(true);
                var y = nn.functional.linear(xx, ww, b); y.backward([torch.ones_like(y)]);
            });
            Time($"linear_{tag}_pure_bf16_fwd", () => { using var s = NewDisposeScope(); using var g = no_grad(); nn.functional.linear(xb, wb, bb); });
            Time($"linear_{tag}_pure_bf16_matmul_only", () => { using var s = NewDisposeScope(); using var g = no_grad(); torch.matmul(xb, wb.t()); });
        }
        using var act = torch.randn([n, width]);
        bool blockOnly = a.Get("only", "") == "block";
        using var wide = torch.randn([n, 4 * width]);
        foreach (var dt in blockOnly ? [] : new[] { ScalarType.Float32, bf })
        {
            string tag = dt == bf ? "bf16" : "fp32";
            using var xa = act.to(dt); using var xw = wide.to(dt);
            using var lw = torch.ones([width], dt); using var lb = torch.zeros([width], dt);
            Time($"layernorm_{tag}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = xa.detach().requires_grad_(true); var ww = lw.detach().requires_grad_(true); var bb = lb.detach().requires_grad_(true);
                var y = nn.functional.layer_norm(xx, [width], ww, bb, 1e-5); y.backward([torch.ones_like(y)]);
            });
            Time($"gelu_tanh_{tag}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = xw.detach().requires_grad_(true);
                var y = nn.functional.gelu(xx, TorchSharp.Modules.GELU.Approximate.tanh); y.backward([torch.ones_like(y)]);
            });
            Time($"gelu_tanh_sharpseek_{tag}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = xw.detach().requires_grad_(true);
                var y = SharpSeek.Models.Common.GeluTanh.Apply(xx); y.backward([torch.ones_like(y)]);
            });
            Time($"residual_add_{tag}", () => { using var s = NewDisposeScope(); using var g = no_grad(); var _ = xa + xa; });
            Time($"cast_act_{tag}_to_other", () => { using var s = NewDisposeScope(); xa.to(dt == bf ? ScalarType.Float32 : bf); });
            Time($"cast_wide_{tag}_to_other", () => { using var s = NewDisposeScope(); xw.to(dt == bf ? ScalarType.Float32 : bf); });
            int hd = width / heads;
            using var q = torch.randn([batch, heads, block, hd]).to(dt);
            using var k = torch.randn([batch, heads, block, hd]).to(dt);
            using var v = torch.randn([batch, heads, block, hd]).to(dt);
            Time($"sdpa_causal_{tag}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var qq = q.detach().requires_grad_(true); var kk = k.detach().requires_grad_(true); var vv = v.detach().requires_grad_(true);
                var y = nn.functional.scaled_dot_product_attention(qq, kk, vv, null, 0.0, true); y.backward([torch.ones_like(y)]);
            });
            using var causal = torch.ones([block, block], ScalarType.Bool).triu(1);
            Time($"manual_attn_{tag}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var qq = q.detach().requires_grad_(true); var kk = k.detach().requires_grad_(true); var vv = v.detach().requires_grad_(true);
                var att = torch.matmul(qq, kk.transpose(-2, -1)) * (1.0 / Math.Sqrt(hd));        // (B, H, T, T)
                att = att.masked_fill(causal, float.NegativeInfinity).softmax(-1);
                var y = torch.matmul(att, vv); y.backward([torch.ones_like(y)]);
            });
            Time($"manual_attn_{tag}_fp32softmax_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var qq = q.detach().requires_grad_(true); var kk = k.detach().requires_grad_(true); var vv = v.detach().requires_grad_(true);
                var att = torch.matmul(qq, kk.transpose(-2, -1)) * (1.0 / Math.Sqrt(hd));        // (B, H, T, T)
                att = att.masked_fill(causal, float.NegativeInfinity).softmax(-1, ScalarType.Float32).to(dt);
                var y = torch.matmul(att, vv); y.backward([torch.ones_like(y)]);
            });
            Time($"gelu_tanh_{tag}_fwd", () => { using var s = NewDisposeScope(); using var g = no_grad(); nn.functional.gelu(xw, TorchSharp.Modules.GELU.Approximate.tanh); });
            Time($"gelu_erf_{tag}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = xw.detach().requires_grad_(true);
                var y = nn.functional.gelu(xx); y.backward([torch.ones_like(y)]);
            });
            Time($"tanh_{tag}_fwd", () => { using var s = NewDisposeScope(); using var g = no_grad(); xw.tanh(); });
            Time($"sdpa_causal_{tag}_fwd", () => { using var s = NewDisposeScope(); using var g = no_grad(); nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true); });
        }
        if (a.Get("only", "") == "block") result.Clear();
        // The whole block as the trainer runs it (Bf16Compute hooks), and plain fp32.
        var cfg = TrainWorker.Configs["config_a"];
        using var model = new Gpt2LMHeadModel(TrainingModels.Gpt2(cfg, cfg.VocabSize));
        model.train();
        var blk = model.named_modules().Select(m => m.module).OfType<Gpt2Block>().First();
        foreach (var prec in new[] { "fp32", "bf16" })
        {
            using var mixed = prec == "bf16" ? Bf16Compute.Enable(model) : null;
            Time($"block_{prec}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = act.view(batch, block, width).detach().requires_grad_(true);
                var y = blk.forward(xx, null, 0, null); y.backward([torch.ones_like(y)]);
            });
            Time($"block_{prec}_fwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = act.view(batch, block, width).detach().requires_grad_(true);
                blk.forward(xx, null, 0, null);
            });
            var attn = blk.named_modules().Select(m => m.module).OfType<Gpt2Attention>().First();
            var mlp = blk.named_modules().Select(m => m.module).OfType<Gpt2Mlp>().First();
            Time($"attention_module_{prec}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = act.view(batch, block, width).detach().requires_grad_(true);
                var y = attn.forward(xx, null, 0, null); y.backward([torch.ones_like(y)]);
            });
            Time($"mlp_module_{prec}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var xx = act.view(batch, block, width).detach().requires_grad_(true);
                var y = mlp.call(xx); y.backward([torch.ones_like(y)]);
            });
        }
        result["threads"] = torch.get_num_threads();
        result["unit"] = "ms (best of 5)";
        return result;
    }
}
