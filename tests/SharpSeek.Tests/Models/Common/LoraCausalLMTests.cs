using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.Training;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Common;

public class LoraCausalLMTests
{
    private static Gpt2LMHeadModel TinyGpt2()
    {
        manual_seed(1);
        return new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 50, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 4 });
    }

    private static Dictionary<string, Tensor> Snapshot(nn.Module model) => model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    private static bool BitIdentical(Tensor a, Tensor b)
    {
        using var ca = a.detach().contiguous();
        using var cb = b.detach().contiguous();
        return a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && ca.bytes.SequenceEqual(cb.bytes);
    }

    [Fact]
    public void Run_TrainerOnLoraGpt2_TrainsAdaptersOnlyAndCheckpointReloads()
    {
        string dir = TrainingTestData.TempDir();
        try
        {
            var c = TrainingTestData.Config(dir) with { MaxSteps = 6, EvalInterval = 3 };
            var baseModel = TinyGpt2();
            var before = Snapshot(baseModel);
            var config = new LoraConfig { R = 4, LoraAlpha = 8, LoraDropout = 0.1, TargetModules = ["c_attn", "mlp.c_proj"] };
            LoraCausalLM? trained = null;
            var trainer = new Trainer(c, TrainingTestData.Data(), d => trained = d is null
                ? LoraCausalLM.Attach(baseModel, config)
                : LoraCausalLM.Load(Gpt2LMHeadModel.FromPretrained(d), d));
            var result = trainer.Run();

            Assert.NotNull(trained);
            Assert.Equal(4 * 2, trainer.TrainedParameters.Count);                      // lora_A and lora_B of 4 projections
            Assert.Equal(trained.Lora.TrainableParameterCount, trainer.TrainedParameters.Sum(p => p.NumberOfElements));
            Assert.All(baseModel.state_dict(), kv => Assert.True(BitIdentical(before[kv.Key], kv.Value), $"{kv.Key} changed in LoRA training"));
            Assert.All(trained.Lora.Adapters.Values, a => Assert.True(a.B.abs().max().item<float>() > 0, "lora_B was not trained"));

            string checkpoint = result.Checkpoint!;
            Assert.True(File.Exists(Path.Combine(checkpoint, LoraAdapters.WeightsFile)));
            Assert.True(File.Exists(Path.Combine(checkpoint, LoraAdapters.ConfigFile)));
            using var reloaded = LoraCausalLM.Load(Gpt2LMHeadModel.FromPretrained(checkpoint), checkpoint);
            trained.eval();
            manual_seed(3);
            using var ids = randint(0, 28, [2, 12]);
            using var _ = no_grad();
            using var expected = trained.Logits(ids);
            using var actual = reloaded.Logits(ids);
            Assert.True(BitIdentical(expected, actual), "a reloaded checkpoint gives other logits");
            foreach (var t in before.Values) t.Dispose();
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Loss_LoraDeepSeekWithMtp_MtpTermPassesThroughAndOnlyAdaptersGetGradients()
    {
        manual_seed(2);
        using var baseModel = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { QLoraRank = null, NumHiddenLayers = 2, NumNextnPredictLayers = 1 });
        using var model = LoraCausalLM.Attach(baseModel, new LoraConfig { R = 2, TargetModules = ["q_proj", "kv_b_proj"] });
        using (no_grad()) foreach (var a in model.Lora.Adapters.Values) a.B.normal_(0, 0.2);
        Assert.Equal(1, model.MtpDepth);
        Assert.Contains("model.layers.2.self_attn.q_proj", model.Lora.Adapters.Keys);      // the MTP module's block
        model.train();
        manual_seed(4);
        using var ids = randint(0, 512, [2, 10]);
        using var targets = randint(0, 512, [2, 10]);
        var objective = new LanguageModelObjective(new FixedBatch(ids, targets), 2, 10);
        var step = objective.Step(model, SharpSeek.Data.DataSplit.Train, StepMode.Train);
        Assert.True(step.Metrics["mtp"] > 0, string.Join(", ", step.Metrics));
        step.Loss.backward();
        Assert.All(baseModel.named_parameters(), p => Assert.True(p.parameter.grad is null, $"{p.name} received a gradient"));
        Assert.All(model.Lora.NamedParameters(), p => Assert.True(p.Param.grad is { } g && g.abs().max().item<float>() > 0, $"{p.Name} received no gradient"));
    }

    [Fact]
    public void ComputeDType_Bf16OnWrapper_ReachesBaseAndAdapterGradientsStayFloat32()
    {
        using var baseModel = TinyGpt2();
        using var model = LoraCausalLM.Attach(baseModel, new LoraConfig { R = 2, TargetModules = ["c_attn"] });
        using (no_grad()) foreach (var a in model.Lora.Adapters.Values) a.B.normal_(0, 0.2);
        model.ComputeDType = ScalarType.BFloat16;
        Assert.Equal(ScalarType.BFloat16, baseModel.ComputeDType);
        Assert.Equal(ScalarType.BFloat16, baseModel.OutputHead.ComputeDType);
        model.train();
        manual_seed(5);
        using var ids = randint(0, 50, [2, 8]);
        using var targets = randint(0, 50, [2, 8]);
        using var loss = LanguageModelObjective.Loss(model, ids, targets);
        loss.backward();
        Assert.True(float.IsFinite(loss.item<float>()));
        Assert.All(model.Lora.Parameters(), p => Assert.Equal(ScalarType.Float32, p.grad!.dtype));
    }

    /// <summary>One fixed (inputs, targets) batch for both splits.</summary>
    private sealed class FixedBatch(Tensor x, Tensor y) : SharpSeek.Data.IBatchSource
    {
        public int VocabSize => 512;
        public long TokenCount(SharpSeek.Data.DataSplit split) => x.NumberOfElements + 1;
        public (Tensor Inputs, Tensor Targets) SampleBatch(SharpSeek.Data.DataSplit split, int batchSize, int blockSize) => (x.alias(), y.alias());
        public void Reseed(SharpSeek.Data.DataSplit split, ulong seed) { }
        public string SaveState() => "";
        public void RestoreState(string state) { }
    }
}
