using SharpSeek.Models.Common;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

public class ValueHeadModelTests
{
    [Fact]
    public void ForwardWithValues_FreshHead_LogitsArePolicysAndValuesZero()
    {
        var policy = PpoTestModels.Gpt2();
        using var model = new ValueHeadModel(policy);
        model.eval();
        using var _ = no_grad();
        using var ids = tensor(new long[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        var (output, values) = model.ForwardWithValues(new CausalLMInput(ids));
        using var expected = policy.Logits(ids);
        Assert.True(output.Logits!.allclose(expected, rtol: 0, atol: 0));
        Assert.Equal(new long[] { 2, 3 }, values.shape);
        Assert.Equal(0f, values.abs().max().item<float>());
    }

    [Fact]
    public void SavePretrained_ThenLoad_RestoresValueHeadAndWritesAPlainModelFolder()
    {
        using var dir = new TempDir();
        using var model = new ValueHeadModel(PpoTestModels.Gpt2());
        using (no_grad()) foreach (var p in model.parameters()) if (p.shape.Length == 2 && p.shape[0] == 1) p.normal_(0, 1);
        model.SavePretrained(dir.Path);
        using var loaded = ValueHeadModel.Load(Gpt2LMHeadModel.FromPretrained(dir.Path), dir.Path);
        model.eval(); loaded.eval();
        using var _ = no_grad();
        using var ids = tensor(new long[] { 7, 8, 9 }, [1, 3]);
        var (_, v0) = model.ForwardWithValues(new CausalLMInput(ids));
        var (_, v1) = loaded.ForwardWithValues(new CausalLMInput(ids));
        Assert.True(v0.abs().max().item<float>() > 0);
        Assert.True(v0.allclose(v1, rtol: 0, atol: 1e-6));
        Assert.True(File.Exists(dir["config.json"]) && File.Exists(dir[ValueHeadModel.FileName]));
    }

    [Fact]
    public void Load_FolderWithoutValueHead_ThrowsCheckpointException()
    {
        using var dir = new TempDir();
        PpoTestModels.Gpt2().SavePretrained(dir.Path);
        Assert.Throws<CheckpointException>(() => ValueHeadModel.Load(Gpt2LMHeadModel.FromPretrained(dir.Path), dir.Path));
    }

    [Fact]
    public void Parameters_LoraPolicy_TrainableAreAdaptersAndValueHeadOnly()
    {
        var lora = LoraCausalLM.Attach(PpoTestModels.Gpt2(), new LoraConfig { R = 2, LoraAlpha = 4, TargetModules = ["c_attn"] });
        using var model = new ValueHeadModel(lora);
        var trainable = ParamGroups.Assign(model, decayEmbeddings: false).All.ToList();
        Assert.Equal(lora.Lora.TrainableParameterCount + 32 + 1, trainable.Sum(p => p.numel()));   // adapters + v_head (C = 32, bias)
    }

    [Fact]
    public void DetachValueInput_ValueLoss_GivesNoGradientToTheTrunk()
    {
        using var model = new ValueHeadModel(PpoTestModels.Gpt2(), detachValueInput: true);
        using var ids = tensor(new long[] { 1, 2, 3 }, [1, 3]);
        var (_, values) = model.ForwardWithValues(new CausalLMInput(ids));
        (values - 1).square().mean().backward();
        Assert.All(model.Policy.parameters(), p => Assert.True(p.grad is null || p.grad.abs().max().item<float>() == 0));
        Assert.Contains(model.parameters(), p => p.shape.Length == 2 && p.shape[0] == 1 && p.grad is not null && p.grad.abs().max().item<float>() > 0);
    }
}
