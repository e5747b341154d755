using SharpSeek.Kernels;
using System.Text.Json;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training;

/// <summary>
/// Training parity with PyTorch (fixtures: karpathy/nanoGPT's <c>GPT</c> trained with PyTorch's autograd,
/// <c>clip_grad_norm_</c> and <c>torch.optim.AdamW</c> with nanoGPT's parameter groups): per step the loss with masked
/// (−100) targets, backward, global-norm clipping and AdamW with that step's learning rate, as the Trainer runs them.
/// </summary>
[Trait("Category", "Reference")]
[Trait("Family", "gpt2_training")]
public class Gpt2TrainingReferenceTests(ITestOutputHelper output)
{
    private const string Family = "gpt2_training";

    public static TheoryData<string> Cases => Fixtures.Cases(Family);

    // ---- every model call goes through these (the one place to change when the model contract changes) ----

    /// <summary>The training objective the Trainer uses: mean cross-entropy over targets that are not −100.</summary>
    private static Tensor Loss(Gpt2LMHeadModel model, Tensor ids, Tensor targets) => LanguageModelObjective.Loss(model, ids, targets);

    /// <summary>Mixed precision as <c>precision: bf16</c> trains: bf16 matmuls, float32 master weights; dispose to undo.</summary>
    private static IDisposable EnableBf16(Gpt2LMHeadModel model)
    {
        model.ComputeDType = ScalarType.BFloat16;
        return new Restore(() => model.ComputeDType = ScalarType.Float32);
    }

    private sealed class Restore(Action undo) : IDisposable { public void Dispose() => undo(); }

    // ---- the fixture ----

    private static readonly string[] Conv1DSuffixes = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];

    private sealed record Case(string Name, string Dir, JsonElement Json, long[][][] InputIds, long[][][] Targets, double[] Lr, string Prefix)
    {
        public JsonElement Tolerance => Json.GetProperty("tolerance");
        public JsonElement Optimizer => Json.GetProperty("training").GetProperty("optimizer");
        public double MaxNorm => Json.GetProperty("training").GetProperty("grad_clip").GetProperty("max_norm").GetDouble();
        public SafeTensorsFile Expected() => SafeTensorsFile.Open(Path.Combine(Dir, Json.GetProperty("files").GetProperty("expected").GetString()!));
    }

    private static Case Open(string name)
    {
        var json = Fixtures.CaseJson(Family, name);
        var inputs = json.GetProperty("inputs");
        long[][][] Steps(string key) => inputs.GetProperty(key).EnumerateArray()
            .Select(s => s.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray()).ToArray();
        var lr = json.GetProperty("training").GetProperty("lr_per_step").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        return new Case(name, Fixtures.CaseDir(Family, name), json, Steps("input_ids"), Steps("targets"), lr, json.GetProperty("weight_name_prefix").GetString()!);
    }

    private static Tensor Batch(long[][] rows) => torch.tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length]);   // (B, T)

    /// <summary>The fixture's name of a model parameter (HF names, no <c>transformer.</c>, the case's prefix) and whether it is a Conv1D weight stored [in, out].</summary>
    private static (string Name, bool Conv1D) FixtureName(Case c, string parameter)
    {
        string bare = parameter.StartsWith("transformer.", StringComparison.Ordinal) ? parameter["transformer.".Length..] : parameter;
        return (c.Prefix + bare, Conv1DSuffixes.Any(bare.EndsWith));
    }

    /// <summary>A parameter (or its gradient) in the fixture's orientation.</summary>
    private static Tensor AsFixture(Tensor t, bool conv1D) => conv1D ? t.t() : t;

    private sealed record Run(double[] Losses, double[] GradNorms, Dictionary<string, Tensor> Step0Grads, Dictionary<string, Tensor> Final);

    /// <summary>
    /// The case's steps as the Trainer runs one: set the step's lr, loss, backward, <c>clip_grad_norm_</c>, AdamW step, zero grads.
    /// Parameter groups by nanoGPT's rule (every ≥ 2-D tensor decays, embeddings included); the Trainer's
    /// <see cref="ParamGroups"/> and <see cref="FusedAdamW"/> with the case's betas, eps and weight decay.
    /// </summary>
    private static Run Train(Case c, bool bf16)
    {
        using var model = Gpt2LMHeadModel.FromPretrained(c.Dir);
        model.train();
        using var mixed = bf16 ? EnableBf16(model) : null;
        var groups = ParamGroups.Assign(model, decayEmbeddings: true);
        var parameters = groups.All.ToList();
        var o = c.Optimizer;
        var betas = o.GetProperty("betas").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        var config = new TrainConfig
        {
            Lr = c.Lr[0], Beta1 = betas[0], Beta2 = betas[1], Eps = o.GetProperty("eps").GetDouble(),
            WeightDecay = o.GetProperty("weight_decay").GetDouble(), DecayEmbeddings = true, GradClip = c.MaxNorm,
        };
        using var optimizer = groups.CreateAdamW(config);

        var losses = new List<double>();
        var norms = new List<double>();
        var step0 = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int s = 0; s < c.InputIds.Length; s++)
        {
            using var scope = torch.NewDisposeScope();
            foreach (var g in optimizer.ParamGroups) g.LearningRate = c.Lr[s];
            var loss = Loss(model, Batch(c.InputIds[s]), Batch(c.Targets[s]));
            losses.Add(loss.item<float>());
            loss.backward();
            if (s == 0)
                foreach (var (name, p) in model.named_parameters())
                {
                    var (fixtureName, conv1D) = FixtureName(c, name);
                    step0[fixtureName] = AsFixture(p.grad!, conv1D).detach().clone().DetachFromDisposeScope();
                }
            norms.Add(nn.utils.clip_grad_norm_(parameters, config.GradClip));
            optimizer.step();
            optimizer.zero_grad();
        }
        var final = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, p) in model.named_parameters())
        {
            var (fixtureName, conv1D) = FixtureName(c, name);
            final[fixtureName] = AsFixture(p, conv1D).detach().clone();
        }
        return new Run([.. losses], [.. norms], step0, final);
    }

    // ---- the checks ----

    [Theory]
    [MemberData(nameof(Cases))]
    public void ParamGroups_NanoGptRule_DecayExactlyTheCaseTensors(string caseName)
    {
        var c = Open(caseName);
        using var model = Gpt2LMHeadModel.FromPretrained(c.Dir);
        var groups = ParamGroups.Assign(model, decayEmbeddings: true);
        var want = c.Optimizer.GetProperty("decayed_tensors").EnumerateArray().Select(v => v.GetString()!).Order(StringComparer.Ordinal);
        Assert.Equal(want, groups.Decay.Select(p => FixtureName(c, p.Name).Name).Order(StringComparer.Ordinal));
        Assert.Equal(model.parameters().Count(), groups.Decay.Count + groups.NoDecay.Count);   // the tied head counted once, nothing left out
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Loss_EveryStepFp32_MatchesPyTorch(string caseName)
    {
        var c = Open(caseName);
        double atol = c.Tolerance.GetProperty("loss_atol").GetDouble();
        var run = Train(c, bf16: false);
        using var expected = c.Expected();
        var want = expected.Load("loss").data<float>().ToArray();
        Assert.Equal(want.Length, run.Losses.Length);
        double worst = want.Select((w, s) => Math.Abs(run.Losses[s] - w)).Max();
        output.WriteLine($"{caseName}: loss max |Δ| over {want.Length} steps = {worst:E3} (atol {atol:E1})");
        for (int s = 0; s < want.Length; s++)
            Assert.True(Math.Abs(run.Losses[s] - want[s]) <= atol, $"{caseName}: step {s} loss {run.Losses[s]:R} vs PyTorch {want[s]:R} (atol {atol:E1})");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradNorm_EveryStepFp32_MatchesPyTorch(string caseName)
    {
        var c = Open(caseName);
        double rtol = c.Tolerance.GetProperty("grad_norm_rtol").GetDouble();
        var run = Train(c, bf16: false);
        using var expected = c.Expected();
        var want = expected.Load("grad_norm").data<float>().ToArray();
        Assert.Equal(want.Length, run.GradNorms.Length);
        double worst = want.Select((w, s) => Math.Abs(run.GradNorms[s] - w) / w).Max();
        output.WriteLine($"{caseName}: grad norm max relative |Δ| over {want.Length} steps = {worst:E3} (rtol {rtol:E1})");
        for (int s = 0; s < want.Length; s++)
        {
            Assert.True(want[s] > c.MaxNorm, $"{caseName}: step {s} does not clip (norm {want[s]} ≤ {c.MaxNorm}), so clipping goes untested");
            Assert.True(Math.Abs(run.GradNorms[s] - want[s]) <= rtol * want[s], $"{caseName}: step {s} grad norm {run.GradNorms[s]:R} vs PyTorch {want[s]:R} (rtol {rtol:E1})");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Gradients_Step0Fp32_MatchPyTorch(string caseName)
    {
        var c = Open(caseName);
        double atol = c.Tolerance.GetProperty("gradients_atol").GetDouble();
        var run = Train(c, bf16: false);
        using var expected = c.Expected();
        var names = expected.Tensors.Keys.Where(k => k.StartsWith("grad.", StringComparison.Ordinal)).Select(k => k["grad.".Length..]).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names, run.Step0Grads.Keys.Order(StringComparer.Ordinal));     // every parameter, no more, no less
        double worst = 0;
        foreach (var name in names)
        {
            using var want = expected.Load("grad." + name);
            var got = run.Step0Grads[name];
            Assert.Equal(want.shape, got.shape);
            double diff = (got - want).abs().max().item<float>();
            worst = Math.Max(worst, diff);
            Assert.True(diff <= atol, $"{caseName}: gradient of '{name}' differs by {diff:E3} > atol {atol:E1}");
        }
        output.WriteLine($"{caseName}: step-0 gradients max |Δ| over {names.Count} tensors = {worst:E3} (atol {atol:E1})");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Parameters_AfterLastStepFp32_MatchPyTorch(string caseName)
    {
        var c = Open(caseName);
        double atol = c.Tolerance.GetProperty("final_parameters_atol").GetDouble();
        double meanAtol = c.Tolerance.GetProperty("final_parameters_mean_abs_atol").GetDouble();
        var run = Train(c, bf16: false);
        using var expected = c.Expected();
        var names = expected.Tensors.Keys.Where(k => k.StartsWith("final.", StringComparison.Ordinal)).Select(k => k["final.".Length..]).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names, run.Final.Keys.Order(StringComparer.Ordinal));
        using var initialWeights = SafeTensorsFile.Open(Path.Combine(c.Dir, c.Json.GetProperty("files").GetProperty("weights").GetString()!));
        double worst = 0, sumAbs = 0;
        long count = 0;
        foreach (var name in names)
        {
            using var want = expected.Load("final." + name);
            using var initial = initialWeights.Load(name);
            var got = run.Final[name];
            Assert.Equal(want.shape, got.shape);
            Assert.False(want.equal(initial).all().item<bool>(), $"{caseName}: '{name}' did not move in the reference, so it checks nothing");
            var diff = (got - want).abs();
            worst = Math.Max(worst, diff.max().item<float>());
            sumAbs += diff.to(ScalarType.Float64).sum().item<double>();
            count += diff.NumberOfElements;
        }
        double mean = sumAbs / count;
        output.WriteLine($"{caseName}: final parameters max |Δ| = {worst:E3} (atol {atol:E1}), mean |Δ| = {mean:E3} over {count:N0} elements (atol {meanAtol:E1})");
        Assert.True(worst <= atol, $"{caseName}: a final parameter differs by {worst:E3} > atol {atol:E1}");
        Assert.True(mean <= meanAtol, $"{caseName}: final parameters differ by {mean:E3} on average > {meanAtol:E1}");
    }

    /// <summary>The bf16 path (bf16 matmuls, float32 master weights and optimizer) follows the same trajectory within 2e-2 of loss.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Loss_EveryStepBf16_WithinBf16ToleranceOfPyTorch(string caseName)
    {
        const double atol = 2e-2;
        var c = Open(caseName);
        var run = Train(c, bf16: true);
        var fp32 = Train(c, bf16: false);
        using var expected = c.Expected();
        var want = expected.Load("loss").data<float>().ToArray();
        double worst = want.Select((w, s) => Math.Abs(run.Losses[s] - w)).Max();
        output.WriteLine($"{caseName}: bf16 loss max |Δ| over {want.Length} steps = {worst:E3} (atol {atol:E1})");
        for (int s = 0; s < want.Length; s++)
            Assert.True(Math.Abs(run.Losses[s] - want[s]) <= atol, $"{caseName}: bf16 step {s} loss {run.Losses[s]:R} vs PyTorch {want[s]:R} (atol {atol:E1})");
        Assert.NotEqual(fp32.Losses, run.Losses);                                          // the bf16 path really ran
    }
}
