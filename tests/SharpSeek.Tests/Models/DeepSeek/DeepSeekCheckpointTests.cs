using SharpSeek.Models.Common;
using SharpSeek.Checkpoints;
using SharpSeek.Models.DeepSeek;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.DeepSeek;

public sealed class DeepSeekCheckpointTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("sharpseek-ds-");
    public void Dispose() => _dir.Delete(true);

    private static string FixtureCase => DeepSeekFixtures.CaseNames[0];

    [Fact]
    public void StateDict_FixtureConfig_NamesAndShapesEqualCheckpoint()
    {
        string dir = DeepSeekFixtures.CaseDir(FixtureCase);
        using var model = new DeepSeekV3ForCausalLM(DeepSeekV3Config.Load(Path.Combine(dir, "config.json")));
        using var file = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        var sd = model.state_dict();
        Assert.Equal(file.Tensors.Keys.Order(StringComparer.Ordinal), sd.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, info) in file.Tensors) Assert.Equal(info.Shape, sd[name].shape);
    }

    [Fact]
    public void SavePretrained_ThenFromPretrained_IdenticalLogits()
    {
        torch.manual_seed(1);
        using var model = new DeepSeekV3ForCausalLM(new DeepSeekV3Config { QLoraRank = null, NumNextnPredictLayers = 1 });
        model.eval();
        using var ids = torch.randint(0, 512, new long[] { 2, 9 });
        using var _ = torch.no_grad();
        using var before = model.Logits(ids);
        model.SavePretrained(_dir.FullName);
        using var loaded = DeepSeekV3ForCausalLM.FromPretrained(_dir.FullName);
        using var after = loaded.Logits(ids);
        Assert.True(before.eq(after).all().item<bool>(), "logits changed after a save/load round trip");
        Assert.Equal(model.Config, loaded.Config with { Architectures = model.Config.Architectures });
    }

    private void CopyFixtureWith(Func<Dictionary<string, Tensor>, Dictionary<string, Tensor>> edit)
    {
        string src = DeepSeekFixtures.CaseDir(FixtureCase);
        File.Copy(Path.Combine(src, "config.json"), Path.Combine(_dir.FullName, "config.json"));
        using var f = SafeTensorsFile.Open(Path.Combine(src, "model.safetensors"));
        var tensors = f.Tensors.Keys.ToDictionary(k => k, f.Load);
        SafeTensors.Save(Path.Combine(_dir.FullName, "model.safetensors"), edit(tensors));
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void FromPretrained_MissingTensor_ThrowsCheckpointExceptionNamingIt()
    {
        CopyFixtureWith(t => { t.Remove("model.layers.1.mlp.experts.3.up_proj.weight"); return t; });
        var e = Assert.Throws<CheckpointException>(() => DeepSeekV3ForCausalLM.FromPretrained(_dir.FullName));
        Assert.Contains("model.layers.1.mlp.experts.3.up_proj.weight", e.Message);
    }

    [Fact]
    public void FromPretrained_UnexpectedTensor_ThrowsCheckpointExceptionNamingIt()
    {
        CopyFixtureWith(t => { t["model.layers.7.input_layernorm.weight"] = torch.ones(64); return t; });
        var e = Assert.Throws<CheckpointException>(() => DeepSeekV3ForCausalLM.FromPretrained(_dir.FullName));
        Assert.Contains("model.layers.7.input_layernorm.weight", e.Message);
    }

    [Fact]
    public void FromPretrained_HeadDimNotMatchingCheckpoint_ThrowsCheckpointException()
    {
        CopyFixtureWith(t => t);
        string cfg = Path.Combine(_dir.FullName, "config.json");
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"v_head_dim\": 16", "\"v_head_dim\": 8"));
        var e = Assert.Throws<CheckpointException>(() => DeepSeekV3ForCausalLM.FromPretrained(_dir.FullName));
        Assert.Contains("shape", e.Message);
    }
}
