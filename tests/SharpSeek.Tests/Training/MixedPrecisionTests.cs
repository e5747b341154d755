using SharpSeek.Models.Common;
using SharpSeek.Training;
using TorchSharp;
using static TorchSharp.torch;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training;

public class MixedPrecisionTests
{
    [Fact]
    public void ComputeDType_TinyModel_LogitsCloseToFp32AndGradsStayFp32()
    {
        manual_seed(3);
        using var model = new TinyLM(32, 16);
        using var ids = randint(0, 32, [2, 8]);
        using var reference = model.Logits(ids);
        model.ComputeDType = ScalarType.BFloat16;
        using (var logits = model.Logits(ids))
        {
            Assert.Equal(ScalarType.Float32, logits.dtype);
            double maxDiff = (logits - reference).abs().max().item<float>();
            Assert.InRange(maxDiff, 1e-6, 0.05);                     // bf16 rounding visible, but small
            logits.sum().backward();
        }
        model.ComputeDType = ScalarType.Float32;
        foreach (var p in model.parameters()) Assert.Equal(ScalarType.Float32, p.grad!.dtype);
        using var after = model.Logits(ids);
        Assert.Equal(0.0, (after - reference).abs().max().item<float>());   // switched back: plain fp32 again
    }

    [Fact]
    public void ComputeDType_Gpt2TiedHead_LogitsCloseToFp32AndRestoredByFloat32()
    {
        manual_seed(5);
        using var model = new SharpSeek.Models.Gpt2.Gpt2LMHeadModel(new SharpSeek.Models.Gpt2.Gpt2Config { VocabSize = 64, NPositions = 16, NEmbd = 32, NLayer = 1, NHead = 2 });
        model.eval();
        using var ids = randint(0, 64, [2, 16]);
        using var reference = model.Logits(ids);
        double diff;
        model.ComputeDType = ScalarType.BFloat16;
        using (var logits = model.Logits(ids)) diff = (logits - reference).abs().max().item<float>();
        model.ComputeDType = ScalarType.Float32;
        Assert.InRange(diff, 1e-6, 0.05);
        using var after = model.Logits(ids);
        Assert.Equal(0.0, (after - reference).abs().max().item<float>());
    }

    [Fact]
    public void Run_Bf16_LossFallsLikeFp32()
    {
        var config = TrainingTestData.Config("") with { MaxSteps = 40, EvalInterval = 40, Dropout = 0 };
        var fp32 = new Trainer(config with { OutDir = TrainingTestData.TempDir() }, TrainingTestData.Data(), TrainingTestData.Factory(0)).Run();
        var bf16 = new Trainer(config with { OutDir = TrainingTestData.TempDir(), Precision = "bf16" }, TrainingTestData.Data(), TrainingTestData.Factory(0)).Run();
        Assert.InRange(bf16.StepLosses[40], 0.9 * fp32.StepLosses[40], 1.1 * fp32.StepLosses[40]);
    }

    [Fact]
    public void ComputeDType_Gpt2Training_GradientsCloseToFp32AndStayFp32()
    {
        manual_seed(7);
        using var model = new SharpSeek.Models.Gpt2.Gpt2LMHeadModel(new SharpSeek.Models.Gpt2.Gpt2Config
        {
            VocabSize = 64, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 4, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0,
        });
        model.train();
        using var ids = randint(0, 64, [2, 16]);
        using var targets = randint(0, 64, [2, 16]);
        AssertBf16GradientsCloseToFp32(model, ids, targets);
    }

    [Fact]
    public void ComputeDType_Gpt2_AttentionStaysCausal()
    {
        manual_seed(9);
        using var model = new SharpSeek.Models.Gpt2.Gpt2LMHeadModel(new SharpSeek.Models.Gpt2.Gpt2Config { VocabSize = 64, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 4 });
        model.eval();
        using var ids = randint(0, 64, [1, 16]);
        using var changed = ids.clone();
        changed[0, 12] = (ids[0, 12] + 1) % 64;                    // a later token differs
        model.ComputeDType = ScalarType.BFloat16;
        using var a = model.Logits(ids);
        using var b = model.Logits(changed);
        Assert.Equal(0.0, (a.narrow(1, 0, 12) - b.narrow(1, 0, 12)).abs().max().item<float>());   // earlier positions untouched
        Assert.True((a.narrow(1, 12, 4) - b.narrow(1, 12, 4)).abs().max().item<float>() > 0);
    }

    [Fact]
    public void ComputeDType_DeepSeekTraining_GradientsCloseToFp32AndStayFp32()
    {
        // Every token goes to every expert, so bf16 rounding cannot flip a top-k choice (a discrete change no tolerance covers).
        manual_seed(13);
        using var model = new SharpSeek.Models.DeepSeek.DeepSeekV3ForCausalLM(new SharpSeek.Models.DeepSeek.DeepSeekV3Config
        {
            VocabSize = 64, NumNextnPredictLayers = 1, AuxLossAlpha = 0.01, NRoutedExperts = 4, NumExpertsPerTok = 4, NGroup = 1, TopkGroup = 1,
        });
        model.train();
        using var ids = randint(0, 64, [2, 16]);
        using var targets = randint(0, 64, [2, 16]);
        AssertBf16GradientsCloseToFp32(model, ids, targets);
    }

    [Fact]
    public void ComputeDType_DeepSeek_LogitsCloseToFp32AndFloat32Typed()
    {
        manual_seed(14);
        using var model = new SharpSeek.Models.DeepSeek.DeepSeekV3ForCausalLM(new SharpSeek.Models.DeepSeek.DeepSeekV3Config { VocabSize = 64 });
        model.eval();
        using var ids = randint(0, 64, [2, 12]);
        using var reference = model.Logits(ids);
        model.ComputeDType = ScalarType.BFloat16;
        using var logits = model.Logits(ids);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        double scale = reference.abs().max().item<float>();
        Assert.InRange((logits - reference).abs().max().item<float>(), 1e-7, 0.05 * scale);
    }

    /// <summary>
    /// Gradients of the LM objective with ComputeDType bf16 stay float32 and within 5% (of each tensor's largest fp32
    /// entry) of the fp32 ones, and at least one differs (the bf16 path ran). Leaves the model in bf16.
    /// </summary>
    private static void AssertBf16GradientsCloseToFp32(SharpSeek.Models.Common.CausalLM model, Tensor ids, Tensor targets)
    {
        Dictionary<string, Tensor> Grads()
        {
            model.zero_grad();
            using var loss = LanguageModelObjective.Loss(model, ids, targets);
            loss.backward();
            return model.named_parameters().Where(p => p.parameter.grad is not null).ToDictionary(p => p.name, p => p.parameter.grad!.clone());
        }
        model.ComputeDType = ScalarType.Float32;
        var fp32 = Grads();
        model.ComputeDType = ScalarType.BFloat16;
        var bf16 = Grads();
        Assert.Equal(fp32.Keys.Order(), bf16.Keys.Order());
        double largest = 0;
        foreach (var (name, g) in fp32)
        {
            Assert.Equal(ScalarType.Float32, bf16[name].dtype);
            double scale = g.abs().max().item<float>();
            double diff = (bf16[name] - g).abs().max().item<float>();
            Assert.True(diff <= 0.05 * scale + 1e-6, $"{name}: max |bf16 − fp32| = {diff}, max |fp32| = {scale}");
            largest = Math.Max(largest, diff);
        }
        Assert.True(largest > 0, "bf16 compute left every gradient bit-identical to fp32: the bf16 path did not run");
    }
}
