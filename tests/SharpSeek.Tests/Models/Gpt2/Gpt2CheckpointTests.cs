using SharpSeek.Models.Common;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Gpt2;

public class Gpt2CheckpointTests
{
    internal static readonly Gpt2Config Tiny = new() { VocabSize = 97, NPositions = 32, NEmbd = 32, NLayer = 2, NHead = 4 };

    [Fact]
    public void SaveThenLoad_TinyModel_GivesIdenticalLogits()
    {
        using var dir = new TempDir();
        torch.manual_seed(3);
        using var model = new Gpt2LMHeadModel(Tiny);
        model.eval();
        var ids = torch.randint(0, Tiny.VocabSize, [2, 9]);
        using var _ = torch.no_grad();
        var before = model.Logits(ids);
        model.SavePretrained(dir.Path);
        using var loaded = Gpt2LMHeadModel.FromPretrained(dir.Path);
        Assert.True(before.equal(loaded.Logits(ids)).all().item<bool>());
    }

    [Fact]
    public void SavePretrained_WritesHuggingFaceNamesAndConv1DOrientation()
    {
        using var dir = new TempDir();
        using var model = new Gpt2LMHeadModel(Tiny);
        model.SavePretrained(dir.Path);
        using var f = SafeTensorsFile.Open(dir["model.safetensors"]);
        Assert.Equal(new long[] { 32, 96 }, f.Tensors["transformer.h.0.attn.c_attn.weight"].Shape);   // [in, out]
        Assert.Equal(new long[] { 32, 128 }, f.Tensors["transformer.h.1.mlp.c_fc.weight"].Shape);
        Assert.False(f.Contains("lm_head.weight"));                                                      // tied
        Assert.Equal(new long[] { 97, 32 }, f.Tensors["transformer.wte.weight"].Shape);
        Assert.Contains("\"n_embd\": 32", File.ReadAllText(dir["config.json"]));
    }

    [Fact]
    public void FromPretrained_MissingTensor_ThrowsNamingIt()
    {
        using var dir = new TempDir();
        using var model = new Gpt2LMHeadModel(Tiny);
        var sd = model.HuggingFaceStateDict();
        sd.Remove("transformer.h.1.ln_2.bias");
        SafeTensors.Save(dir["model.safetensors"], sd);
        File.WriteAllText(dir["config.json"], Tiny.ToJson());
        var e = Assert.Throws<CheckpointException>(() => Gpt2LMHeadModel.FromPretrained(dir.Path));
        Assert.Contains("missing tensor 'transformer.h.1.ln_2.bias'", e.Message);
    }

    [Fact]
    public void FromPretrained_ExtraTensor_ThrowsNamingIt()
    {
        using var dir = new TempDir();
        using var model = new Gpt2LMHeadModel(Tiny);
        var sd = model.HuggingFaceStateDict();
        sd["transformer.h.2.ln_1.weight"] = torch.ones(32);
        SafeTensors.Save(dir["model.safetensors"], sd);
        File.WriteAllText(dir["config.json"], Tiny.ToJson());
        var e = Assert.Throws<CheckpointException>(() => Gpt2LMHeadModel.FromPretrained(dir.Path));
        Assert.Contains("unexpected tensor 'transformer.h.2.ln_1.weight'", e.Message);
    }

    [Fact]
    public void FromPretrained_ShapeNotMatchingConfig_ThrowsNamingTensor()
    {
        using var dir = new TempDir();
        using var model = new Gpt2LMHeadModel(Tiny);
        model.SavePretrained(dir.Path);
        File.WriteAllText(dir["config.json"], (Tiny with { VocabSize = 100 }).ToJson());
        var e = Assert.Throws<CheckpointException>(() => Gpt2LMHeadModel.FromPretrained(dir.Path));
        Assert.Contains("'transformer.wte.weight' has shape [97, 32], config.json implies [100, 32]", e.Message);
    }

    [Fact]
    public void FromPretrained_IntegerDtype_Throws()
    {
        using var dir = new TempDir();
        using var model = new Gpt2LMHeadModel(Tiny);
        var sd = model.HuggingFaceStateDict();
        sd["transformer.ln_f.bias"] = torch.zeros(32, ScalarType.Int32);
        SafeTensors.Save(dir["model.safetensors"], sd);
        File.WriteAllText(dir["config.json"], Tiny.ToJson());
        var e = Assert.Throws<CheckpointException>(() => Gpt2LMHeadModel.FromPretrained(dir.Path));
        Assert.Contains("dtype I32", e.Message);
    }

    [Fact]
    public void Config_UnknownActivation_ThrowsNamingIt()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["config.json"], Tiny.ToJson().Replace("gelu_new", "swish_plus"));
        var e = Assert.Throws<ConfigException>(() => Gpt2Config.Load(dir["config.json"]));
        Assert.Contains("activation_function 'swish_plus' is not supported", e.Message);
    }

    [Fact]
    public void Config_HeadsNotDividingWidth_Throws()
    {
        var e = Assert.Throws<ConfigException>(() => (Tiny with { NHead = 5 }).Validate());
        Assert.Contains("n_embd (32) must be a positive multiple of n_head (5)", e.Message);
    }

    [Fact]
    public void Forward_LongerThanContext_ThrowsGenerationException()
    {
        using var model = new Gpt2LMHeadModel(Tiny);
        var e = Assert.Throws<GenerationException>(() => model.Logits(torch.zeros([1, 33], ScalarType.Int64)));
        Assert.Contains("n_positions = 32", e.Message);
    }

    [Fact]
    public void Forward_LeftPaddedBatch_MatchesUnpaddedRows()
    {
        torch.manual_seed(5);
        using var model = new Gpt2LMHeadModel(Tiny);
        model.eval();
        using var _ = torch.no_grad();
        var a = torch.randint(0, 97, [1, 7]);
        var b = torch.randint(0, 97, [1, 4]);
        var padded = torch.cat([a, torch.cat([torch.zeros([1, 3], ScalarType.Int64), b], 1)], 0);     // (2, 7)
        var mask = torch.cat([torch.ones([1, 7], ScalarType.Int64), torch.cat([torch.zeros([1, 3], ScalarType.Int64), torch.ones([1, 4], ScalarType.Int64)], 1)], 0);
        var both = model.Logits(padded, null, mask);
        Assert.True(both[0].allclose(model.Logits(a)[0], 1e-5, 1e-5));
        Assert.True(both[1].narrow(0, 3, 4).allclose(model.Logits(b)[0], 1e-5, 1e-5));
    }

    [Fact]
    public void Forward_ChunkedWithCache_EqualsFullForward()
    {
        torch.manual_seed(6);
        using var model = new Gpt2LMHeadModel(Tiny);
        model.eval();
        using var _ = torch.no_grad();
        var ids = torch.randint(0, 97, [2, 10]);
        var full = model.Logits(ids);
        using var cache = model.CreateKvCache(2, 16);
        var first = model.Logits(ids.narrow(1, 0, 6), cache);
        var rest = model.Logits(ids.narrow(1, 6, 4), cache);                   // several new tokens after cached ones
        Assert.True(torch.cat([first, rest], 1).allclose(full, 1e-5, 1e-5));
        Assert.Equal(10, cache.Length);
    }
}
