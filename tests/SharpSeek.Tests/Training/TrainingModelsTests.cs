using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training;

/// <summary><see cref="TrainingModels.For"/>: LoRA on any objective's model, adapter checkpoints, vocabulary growth.</summary>
public class TrainingModelsTests
{
    private const string Json = """{"model_type": "gpt2", "vocab_size": 40, "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2}""";
    private static readonly LoraConfig Lora = new() { R = 2, LoraAlpha = 4, TargetModules = ["c_attn"] };

    private static string Base(TempDir tmp)
    {
        (ModelFactory.CreateAndSave(Json, tmp["base"]) as IDisposable)?.Dispose();
        return tmp["base"];
    }

    [Fact]
    public void For_LoraConfig_WrapsModelSoOnlyAdaptersTrain()
    {
        using var tmp = new TempDir();
        var config = new TrainConfig { InitFrom = Base(tmp), Lora = Lora };
        using var model = TrainingModels.For(config, 0)(null);
        var lora = Assert.IsType<LoraCausalLM>(model);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.Equal(2, trainable.Count);                                                   // lora_A and lora_B of the one c_attn
        Assert.All(trainable, n => Assert.StartsWith("lora.", n));
        Assert.Single(lora.Lora.Adapters);
    }

    [Fact]
    public void For_CheckpointWithAdapters_ReloadsThemAndInitFromWithAdaptersIsMerged()
    {
        using var tmp = new TempDir();
        var config = new TrainConfig { InitFrom = Base(tmp), Lora = Lora };
        using var ids = tensor(new long[] { 1, 5, 9, 3 }, [1, 4]);
        Tensor expected;
        using (var trained = (LoraCausalLM)TrainingModels.For(config, 0)(null))
        {
            using (no_grad()) foreach (var a in trained.Lora.Adapters.Values) a.B.normal_(0, 0.5);   // as if trained
            expected = trained.Logits(ids);
            trained.SavePretrained(tmp["ckpt"]);
        }
        using (var resumed = TrainingModels.For(config, 0)(tmp["ckpt"]))
        {
            Assert.IsType<LoraCausalLM>(resumed);
            Assert.True(resumed.Logits(ids).allclose(expected, rtol: 0, atol: 1e-6));
        }
        using var merged = TrainingModels.For(new TrainConfig { InitFrom = tmp["ckpt"] }, 0)(null);   // full fine-tune of the adapted model
        Assert.IsNotType<LoraCausalLM>(merged);
        Assert.All(merged.parameters(), p => Assert.True(p.requires_grad));
        Assert.True(merged.Logits(ids).allclose(expected, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void For_TokenizerLargerThanModel_GrowsVocabularyBeforeLora()
    {
        using var tmp = new TempDir();
        using var model = TrainingModels.For(new TrainConfig { InitFrom = Base(tmp), Lora = Lora }, 0, tokenizerVocabSize: 43)(null);
        Assert.Equal(43, model.VocabSize);
        using var smaller = TrainingModels.For(new TrainConfig { InitFrom = tmp["base"] }, 0, tokenizerVocabSize: 30)(null);
        Assert.Equal(40, smaller.VocabSize);                                                // never shrinks
    }
}
