using SharpSeek.Models.Common;
using System.Text.Json.Nodes;
using SharpSeek.Bench.Decode;
using SharpSeek.Bench.Harness;
using SharpSeek.Models.Gpt2;
using SharpSeek.Training;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;
using SharpSeek.Kernels;

namespace SharpSeek.Bench.Train;

/// <summary>
/// Per-op timings of one config-A transformer block in training (<c>SharpSeek.Bench worker trunk</c>): each Linear,
/// LayerNorm, GELU and attention forward + backward in fp32 and bf16, and the whole block, to see where the trunk's
/// share of a bf16 step goes.
/// </summary>
public static class TrunkProfileWorker
{
    /// <summary>Sections, each selectable with <c>--only NAME</c>; all by default.</summary>
    private static readonly string[] Sections = ["ops", "block", "optim"];

    public static JsonObject Run(string[] args)
    {
        var a = WorkerArgs.Parse(args);
        var shape = new Shape(a.Int("batch", 8), a.Int("block", 256), a.Int("width", 384), a.Int("heads", 6));
        torch.set_num_threads(a.Int("threads", 2));
        if (a.Get("retain-heap", "1") == "1") NativeHeap.RetainFreedMemory();
        torch.manual_seed(1);
        string only = a.Get("only", "");
        if (only.Length > 0 && !Sections.Contains(only)) throw new ArgumentException($"--only {only}: expected one of {string.Join(", ", Sections)}");
        var result = new JsonObject();
        void Time(string name, Action body) => result[name] = Math.Round(BestOf.Seconds(body, warmup: 2, repeats: 5) * 1000, 2);
        if (only is "" or "ops") Ops(shape, Time);
        if (only is "" or "block") Block(shape, Time);
        if (only is "" or "optim") Optim(Time);
        result["threads"] = torch.get_num_threads();
        result["unit"] = "ms (best of 5)";
        return result;
    }

    private sealed record Shape(int Batch, int Block, int Width, int Heads)
    {
        public long Rows => (long)Batch * Block;
    }

    /// <summary>Each Linear of a block, LayerNorm, GELU, residual add, casts and causal attention, fp32 and bf16.</summary>
    private static void Ops(Shape shape, Action<string, Action> Time)
    {
        var (batch, block, width, heads) = (shape.Batch, shape.Block, shape.Width, shape.Heads);
        long n = shape.Rows;
        var bf = ScalarType.BFloat16;
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
            Time($"linear_{tag}_hooked_bf16_fwd_bwd", () =>   // what the removed Bf16Compute hooks did: casts in and out around a bf16 linear
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
        using var wide = torch.randn([n, 4 * width]);
        foreach (var dt in new[] { ScalarType.Float32, bf })
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
                var y = SharpSeek.Kernels.GeluTanh.Apply(xx); y.backward([torch.ones_like(y)]);
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
    }

    /// <summary>One block of a config-A model as the trainer runs it, fp32 and bf16 (<see cref="Bf16Compute"/>), whole and by module.</summary>
    private static void Block(Shape shape, Action<string, Action> Time)
    {
        var (batch, block, width) = (shape.Batch, shape.Block, shape.Width);
        using var act = torch.randn([shape.Rows, width]);
        var cfg = TrainWorker.Configs["config_a"];
        using var model = (Gpt2LMHeadModel)TrainingModels.For(cfg, cfg.VocabSize)(null);
        model.train();
        var blk = model.named_modules().Select(m => m.module).OfType<Gpt2Block>().First();
        var attn = blk.named_modules().Select(m => m.module).OfType<Gpt2Attention>().First();
        var mlp = blk.named_modules().Select(m => m.module).OfType<Gpt2Mlp>().First();
        Tensor Input() => act.view(batch, block, width).detach().requires_grad_(true);        // (B, T, C)
        foreach (var prec in new[] { "fp32", "bf16" })
        {
            model.ComputeDType = prec == "bf16" ? ScalarType.BFloat16 : ScalarType.Float32;
            Time($"block_{prec}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var y = blk.forward(Input(), null, 0, null); y.backward([torch.ones_like(y)]);
            });
            Time($"block_{prec}_fwd", () => { using var s = NewDisposeScope(); blk.forward(Input(), null, 0, null); });
            Time($"attention_module_{prec}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var y = attn.forward(Input(), null, 0, null); y.backward([torch.ones_like(y)]);
            });
            Time($"mlp_module_{prec}_fwd_bwd", () =>
            {
                using var s = NewDisposeScope();
                var y = mlp.call(Input()); y.backward([torch.ones_like(y)]);
            });
        }
    }

    /// <summary>Clip and AdamW on config A's parameters, with real gradients from one small batch.</summary>
    private static void Optim(Action<string, Action> Time)
    {
        var c = TrainWorker.Configs["config_a"];
        using var m = (Gpt2LMHeadModel)TrainingModels.For(c, c.VocabSize)(null);
        var groups = ParamGroups.Assign(m, c.DecayEmbeddings);
        var ps = groups.All.ToList();
        using var opt = groups.CreateAdamW(c);
        using (var s0 = NewDisposeScope())
        {
            var l = LanguageModelObjective.Loss(m, torch.randint(0, c.VocabSize, [2, 64], ScalarType.Int64), torch.randint(0, c.VocabSize, [2, 64], ScalarType.Int64));
            l.backward();
        }
        Time("clip_grad_norm", () => { using var s = NewDisposeScope(); nn.utils.clip_grad_norm_(ps, 1.0); });
        Time("adamw_step", () => { using var s = NewDisposeScope(); opt.step(); });
        Time("copy_all_grads", () => { using var s = NewDisposeScope(); foreach (var p in ps) p.grad!.clone(); });   // memory-bound yardstick
    }
}
