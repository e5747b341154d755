using SharpSeek.Models;
using System.Text.Json.Nodes;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Tests.Training;
using SharpSeek.Training;
using TorchSharp;

namespace SharpSeek.Tests.Models.DeepSeek;

/// <summary>arch = deepseek through the shared trainer (DeepSeek-V3 §2: MTP loss, aux-loss-free balancing).</summary>
public sealed class TrainingDeepSeekTests
{
    /// <summary>A ~30k-parameter DeepSeek: 2 layers (1 dense, 1 MoE with 4 routed experts, top-2, 1 shared), one MTP module.</summary>
    internal static TrainConfig Tiny(string outDir) => TrainingTestData.Config(outDir) with
    {
        Arch = "deepseek", NLayer = 2, NHead = 2, NEmbd = 32, Dropout = 0, BatchSize = 4, BlockSize = 16,
        Model = new JsonObject
        {
            ["n_routed_experts"] = 4, ["n_group"] = 1, ["topk_group"] = 1, ["moe_intermediate_size"] = 16, ["intermediate_size"] = 64,
            ["kv_lora_rank"] = 16, ["qk_rope_head_dim"] = 4, ["qk_nope_head_dim"] = 8, ["v_head_dim"] = 8,
        },
    };

    private static ModelBuilder Capture(TrainConfig c, Action<DeepSeekV3ForCausalLM> onCreate) => dir =>
    {
        var m = (DeepSeekV3ForCausalLM)TrainingModels.For(c, TrainingTestData.Data().VocabSize)(dir);
        onCreate(m);
        return m;
    };

    [Fact]
    public void DeepSeek_FromTrainConfig_UsesShapeKeysPresetAndOverrides()
    {
        var c = Tiny("out").WithOverrides(["model.n_shared_experts=2", "bias_update_speed=0", "mtp_loss_weight=0.5", "mtp_depth=2"]);
        var ds = DeepSeekConfig(c, 27);
        Assert.Equal((64, 32, 2, 2, 256), (ds.VocabSize, ds.HiddenSize, ds.NumHiddenLayers, ds.NumAttentionHeads, ds.MaxPositionEmbeddings));
        Assert.Equal((4, 2, 0.0, 0.5, 2), (ds.NRoutedExperts, ds.NSharedExperts, ds.BiasUpdateSpeed, ds.MtpLossWeight, ds.NumNextnPredictLayers));
    }

    [Fact]
    public void DeepSeek_ModelOverrideOfOwnedKey_ThrowsConfigException()
    {
        var c = Tiny("out").WithOverrides(["model.hidden_size=64"]);
        var e = Assert.Throws<ConfigException>(() => DeepSeekConfig(c, 27));
        Assert.Contains("hidden_size", e.Message);
    }

    [Fact]
    public void Run_TinyDeepSeek_LossFallsAndMetricsHaveExpertLoad()
    {
        string dir = TrainingTestData.TempDir();
        var c = Tiny(dir) with { MaxSteps = 40, EvalInterval = 40, Lr = 1e-2, MinLr = 1e-3 };
        DeepSeekV3ForCausalLM? model = null;
        var result = new Trainer(c, TrainingTestData.Data(), Capture(c, m => model = m)).Run();
        Assert.True(result.StepLosses[40] < 0.6 * result.StepLosses[1], $"loss {result.StepLosses[1]:F3} → {result.StepLosses[40]:F3}");
        var last = File.ReadLines(Path.Combine(dir, MetricsLog.FileName)).Last(l => l.Contains("\"loss\"", StringComparison.Ordinal));
        var loads = JsonNode.Parse(last)!["moe_max_over_mean"]!.AsArray().Select(n => n!.GetValue<double>()).ToArray();
        // The last step's token counts per expert: B·T·k = 4·16·2 slots in the main MoE layer, B·(T−1)·k in the MTP module's.
        var counts = model!.LastStepExpertLoads;
        Assert.Equal([4L * 16 * 2, 4L * 15 * 2], counts.Select(l => l.Sum()));
        Assert.Equal(counts.Select(l => (double)l.Max() / l.Average()), loads, new DoubleTolerance(1e-9));   // max/mean of those counts
    }

    [Fact]
    public void Run_SkewedRouterWithBiasUpdates_LoadImbalanceBelowNoBalancing()
    {
        double FinalImbalance(double gamma)
        {
            var c = Tiny(TrainingTestData.TempDir()) with { MaxSteps = 12, EvalInterval = 100, BiasUpdateSpeed = gamma, MtpDepth = 0 };
            var history = new List<double>();
            DeepSeekV3ForCausalLM? model = null;
            var trainer = new Trainer(c, TrainingTestData.Data(), Capture(c, m =>
            {
                model = m;
                using var _ = torch.no_grad();
                foreach (var moe in m.MoeLayers) moe.Gate.Bias.copy_(torch.tensor(new float[] { 0.05f, 0.05f, 0f, 0f }));   // experts 0, 1 favoured
            }));
            trainer.OnStep = _ => history.Add(model!.ExpertLoadImbalance[0]);
            trainer.Run();
            return history.TakeLast(3).Average();
        }
        double off = FinalImbalance(0), on = FinalImbalance(1e-2);
        Assert.True(on < off - 0.2, $"max/mean with γ=1e-2: {on:F3}, with γ=0: {off:F3}");
    }

    [Fact]
    public void Run_DeepSeekStoppedAndResumed_GivesSameLossesAsUninterrupted()
    {
        var c = Tiny("") with { MaxSteps = 6, EvalInterval = 3 };
        ModelBuilder Factory() => TrainingModels.For(c, TrainingTestData.Data().VocabSize);
        var whole = new Trainer(c with { OutDir = TrainingTestData.TempDir() }, TrainingTestData.Data(), Factory()).Run();

        string dir = TrainingTestData.TempDir();
        using var cts = new CancellationTokenSource();
        var first = new Trainer(c with { OutDir = dir }, TrainingTestData.Data(), Factory()) { OnStep = p => { if (p.Step == 3) cts.Cancel(); } };
        first.Run(cancel: cts.Token);
        var second = new Trainer(c with { OutDir = dir }, TrainingTestData.Data(seed: 99), Factory());
        var resumed = second.Run(resumeFrom: second.Store.Latest());

        Assert.Equal(whole.StepLosses[6], resumed.StepLosses[6]);
        Assert.Equal(whole.LastValLoss, resumed.LastValLoss);
    }

    [Fact]
    public void Run_DeepSeekBf16_TrainsWithFiniteFallingLoss()
    {
        var c = Tiny(TrainingTestData.TempDir()) with { MaxSteps = 20, EvalInterval = 20, Lr = 1e-2, MinLr = 1e-3, Precision = "bf16" };
        var result = new Trainer(c, TrainingTestData.Data(), TrainingModels.For(c, TrainingTestData.Data().VocabSize)).Run();
        Assert.True(result.StepLosses[20] < result.StepLosses[1], $"loss {result.StepLosses[1]:F3} → {result.StepLosses[20]:F3}");
    }

    private static DeepSeekV3Config DeepSeekConfig(TrainConfig c, int dataVocabSize) =>
        DeepSeekV3Config.Parse(ModelFamilies.Get("deepseek").TrainingConfigJson(TrainingModels.Shape(c, dataVocabSize)));
}

internal sealed class DoubleTolerance(double tol) : IEqualityComparer<double>
{
    public bool Equals(double x, double y) => Math.Abs(x - y) <= tol;
    public int GetHashCode(double obj) => 0;

}
