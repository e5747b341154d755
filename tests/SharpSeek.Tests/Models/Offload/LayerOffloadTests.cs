using SharpSeek.Checkpoints;
using SharpSeek.Generation;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Models.Offload;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Offload;

public class LayerOffloadTests
{
    private static readonly Gpt2Config Gpt2Tiny = new() { VocabSize = 64, NPositions = 48, NEmbd = 32, NLayer = 4, NHead = 4 };
    private const long D = 32;
    private const long Block = 4 * (12 * D * D + 13 * D);                                  // ln_1, c_attn, c_proj, ln_2, c_fc, c_proj: 12,704 floats
    private const long Resident = 4 * (64 * D + 48 * D + 2 * D);                           // wte (also the head), wpe, ln_f

    /// <summary>MLA with compressed queries, one dense layer then MoE layers (group-limited routing, a shared expert), one MTP module.</summary>
    private static readonly DeepSeekV3Config DeepSeekTiny = new() { VocabSize = 64, NumHiddenLayers = 3, NumNextnPredictLayers = 1, MaxPositionEmbeddings = 48 };

    private static string Save(TempDir dir, CausalLM model)
    {
        string path = dir["m"];
        model.SavePretrained(path);
        return path;
    }

    private static string NewGpt2(TempDir dir, Gpt2Config? config = null)
    {
        using var model = ModelFactory.Create((config ?? Gpt2Tiny).ToJson(), seed: 7);
        return Save(dir, model);
    }

    private static string NewDeepSeek(TempDir dir)
    {
        using var model = ModelFactory.Create(System.Text.Json.JsonSerializer.Serialize(DeepSeekTiny), seed: 7);
        return Save(dir, model);
    }

    private static Tensor Ids(int vocab, int t = 9) => torch.tensor(Enumerable.Range(0, 2 * t).Select(i => (long)((i * 7 + 3) % vocab)).ToArray()).view(2, t);

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    private static Tensor LogitsOf(CausalLM model, Tensor ids)
    {
        using var _ = torch.no_grad();
        return model.Logits(ids);
    }

    private static IReadOnlyList<int>[] Greedy(CausalLM model, int n = 10)
    {
        var tokenizer = new CharTokenizer(Enumerable.Range(0, model.VocabSize).Select(i => ((char)('0' + i)).ToString()));
        IReadOnlyList<int>[] prompts = [[1, 2, 3, 4], [5, 9]];                                 // two rows: left padding, masks
        return new SharpSeek.Generation.Generator(model, tokenizer).Generate(prompts, new GenerationOptions { MaxNewTokens = n })
            .Select(r => r.TokenIds).ToArray();
    }

    [Theory]
    [InlineData("0-3:disk")]
    [InlineData("0:cpu,1-2:disk,3:cpu")]
    public void Gpt2_Offloaded_LogitsEqualResident(string map)
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        using var resident = ModelLoader.Load(path);
        using var offloaded = ModelLoader.Load(path, DeviceMap.Parse(map));
        using var ids = Ids(Gpt2Tiny.VocabSize);
        using var expected = LogitsOf(resident, ids);
        using var actual = LogitsOf(offloaded, ids);
        Assert.True(Same(actual, expected), $"max |diff| {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void Gpt2_MixedMap_GreedyWithKvCacheMatchesResident()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        using var resident = ModelLoader.Load(path);
        using var offloaded = ModelLoader.Load(path, DeviceMap.Parse("0-1:cpu,2-3:disk"));
        var expected = Greedy(resident);
        Assert.Equal(expected, Greedy(offloaded));
        Assert.Equal(10, expected[0].Count);
    }

    [Fact]
    public void Gpt2_UntiedHead_OffloadedLogitsEqualResident()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir, Gpt2Tiny with { TieWordEmbeddings = false });
        using var resident = ModelLoader.Load(path);
        using var offloaded = ModelLoader.Load(path, DeviceMap.Parse("0-3:disk"));
        using var ids = Ids(Gpt2Tiny.VocabSize);
        using var expected = LogitsOf(resident, ids);
        using var actual = LogitsOf(offloaded, ids);
        Assert.True(Same(actual, expected));
    }

    [Fact]
    public void Gpt2_DiskLayers_HoldNoWeightsBetweenForwards()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        using var model = ModelLoader.Load(path, DeviceMap.Parse("0:cpu,1-3:disk"));
        var offload = ((IOffloadedModel)model).Offload!;
        long block = Block, resident = Resident + Block;                                        // block 0 is on cpu
        Assert.Equal(resident, offload.ResidentBytes);
        Assert.Equal(resident, LayerOffload.LiveBytes(model));
        Assert.Equal(block, offload.UnitBytes(2));

        using (var ids = Ids(Gpt2Tiny.VocabSize)) using (LogitsOf(model, ids)) { }
        Assert.Equal(resident, LayerOffload.LiveBytes(model));                                  // released again
        Assert.Equal(0, offload.LoadedBytes);
        Assert.Equal(block, offload.PeakLoadedBytes);                                          // one layer at a time
        Assert.Equal(3, offload.LayerReads);
        var diskWeight = model.named_parameters().Single(p => p.name == "transformer.h.2.mlp.c_fc.weight").parameter;
        Assert.Equal(0, diskWeight.NumberOfElements);
    }

    [Fact]
    public void Gpt2_NoDiskLayers_ReadsEverythingOnceAndClosesFiles()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        using var model = ModelLoader.Load(path, DeviceMap.Parse("0-3:cpu"));
        var offload = ((IOffloadedModel)model).Offload!;
        Assert.False(offload.HasDiskUnits);
        Assert.Equal(LayerOffload.LiveBytes(model), offload.ResidentBytes);
        using var resident = ModelLoader.Load(path);
        Assert.Equal(LayerOffload.LiveBytes(resident), offload.ResidentBytes);
    }

    [Fact]
    public void Gpt2_Budget_KeepsLeadingBlocksAndStreamsTheRest()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        long block = Block, resident = Resident;
        using var model = ModelLoader.Load(path, DeviceMap.Budget(resident + 3 * block));        // two kept + one streamed
        var offload = ((IOffloadedModel)model).Offload!;
        Assert.Equal([LayerDevice.Cpu, LayerDevice.Cpu, LayerDevice.Disk, LayerDevice.Disk], offload.Placement);
        Assert.Equal(resident + 2 * block, offload.ResidentBytes);
    }

    [Fact]
    public void Gpt2_BudgetBelowResidentPlusOneLayer_ThrowsConfigException()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        long block = Block, resident = Resident;
        var e = Assert.Throws<ConfigException>(() => ModelLoader.Load(path, DeviceMap.Budget(resident + block - 1)));
        Assert.Contains("smaller than the resident parts", e.Message);
        using var fits = ModelLoader.Load(path, DeviceMap.Budget(resident + block));
        Assert.All(((IOffloadedModel)fits).Offload!.Placement, p => Assert.Equal(LayerDevice.Disk, p));
    }

    [Theory]
    [InlineData("0-4:cpu", "out of range: the model has 4 layers")]
    [InlineData("0-1:cpu", "layers 2-3 not mapped")]
    [InlineData("0-2:cpu,2-3:disk", "layer 2 is mapped twice")]
    public void Load_MapNotFittingTheModel_ThrowsConfigException(string map, string message)
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        var e = Assert.Throws<ConfigException>(() => ModelLoader.Load(path, DeviceMap.Parse(map)));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void SavePretrained_OffloadedModel_ThrowsAndWritesNothing()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        using var model = ModelLoader.Load(path, DeviceMap.Parse("0-3:disk"));
        Assert.Throws<SharpSeekException>(() => model.SavePretrained(dir["copy"]));
        Assert.False(Directory.Exists(dir["copy"]));
    }

    [Fact]
    public void Gpt2_ShardedCheckpoint_OffloadedLogitsEqualResident()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        string sharded = dir["sharded"];
        Directory.CreateDirectory(sharded);
        File.Copy(Path.Combine(path, "config.json"), Path.Combine(sharded, "config.json"));
        using (var file = SafeTensorsFile.Open(Path.Combine(path, CheckpointFolder.SingleFile)))
        {
            var names = file.Tensors.Keys.Order(StringComparer.Ordinal).ToList();
            var weightMap = new Dictionary<string, string>();
            for (int s = 0; s < 2; s++)
            {
                string shard = $"model-0000{s + 1}-of-00002.safetensors";
                var part = names.Where((_, i) => i % 2 == s).ToDictionary(n => n, file.Load);
                SafeTensors.Save(Path.Combine(sharded, shard), part);
                foreach (var (n, t) in part) { weightMap[n] = shard; t.Dispose(); }
            }
            File.WriteAllText(Path.Combine(sharded, CheckpointFolder.IndexFile), System.Text.Json.JsonSerializer.Serialize(new { weight_map = weightMap }));
        }
        using var resident = ModelLoader.Load(path);
        using var offloaded = ModelLoader.Load(sharded, DeviceMap.Parse("0-3:disk"));
        using var ids = Ids(Gpt2Tiny.VocabSize);
        using var expected = LogitsOf(resident, ids);
        using var actual = LogitsOf(offloaded, ids);
        Assert.True(Same(actual, expected));
    }

    [Theory]
    [InlineData("0-2:disk", AttentionImpl.Naive)]
    [InlineData("0-2:disk", AttentionImpl.Absorbed)]
    [InlineData("0:cpu,1-2:disk", AttentionImpl.Absorbed)]
    [InlineData("0:disk,1:cpu,2:disk", AttentionImpl.Naive)]
    public void DeepSeek_MoeMla_OffloadedLogitsEqualResident(string map, AttentionImpl impl)
    {
        using var dir = new TempDir();
        string path = NewDeepSeek(dir);
        using var resident = (DeepSeekV3ForCausalLM)ModelLoader.Load(path);
        using var offloaded = (DeepSeekV3ForCausalLM)ModelLoader.Load(path, DeviceMap.Parse(map));
        resident.AttentionImpl = impl; offloaded.AttentionImpl = impl;
        using var ids = Ids(DeepSeekTiny.VocabSize);
        using var expected = LogitsOf(resident, ids);
        using var actual = LogitsOf(offloaded, ids);
        Assert.True(Same(actual, expected), $"max |diff| {(actual - expected).abs().max().item<float>()}");
    }

    [Theory]
    [InlineData(AttentionImpl.Naive)]
    [InlineData(AttentionImpl.Absorbed)]
    public void DeepSeek_AllDisk_GreedyWithKvCacheMatchesResident(AttentionImpl impl)
    {
        using var dir = new TempDir();
        string path = NewDeepSeek(dir);
        using var resident = (DeepSeekV3ForCausalLM)ModelLoader.Load(path);
        using var offloaded = (DeepSeekV3ForCausalLM)ModelLoader.Load(path, DeviceMap.Parse("0-2:disk"));
        resident.AttentionImpl = impl; offloaded.AttentionImpl = impl;
        var expected = Greedy(resident);
        Assert.Equal(expected, Greedy(offloaded));
    }

    [Fact]
    public void DeepSeek_DiskLayersAndMtp_HoldNoWeightsBetweenForwards()
    {
        using var dir = new TempDir();
        string path = NewDeepSeek(dir);
        using var model = (DeepSeekV3ForCausalLM)ModelLoader.Load(path, DeviceMap.Parse("0:cpu,1-2:disk"));
        var offload = model.Offload!;
        Assert.Equal([LayerDevice.Cpu, LayerDevice.Disk, LayerDevice.Disk, LayerDevice.Disk], offload.Placement);   // the MTP module too
        var layout = DeepSeekV3ForCausalLM.Layout(DeepSeekTiny);
        long Bytes(Func<string, bool> which) => 4 * layout.Expected.Where(e => which(e.Name)).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
        long resident = Bytes(n => !n.StartsWith("model.layers.") || n.StartsWith("model.layers.0."));
        Assert.Equal(resident, offload.ResidentBytes);
        Assert.Equal(resident, LayerOffload.LiveBytes(model));
        Assert.Equal(Bytes(n => n.StartsWith("model.layers.1.")), offload.UnitBytes(1));      // every expert of the MoE layer

        using (var ids = Ids(DeepSeekTiny.VocabSize)) using (LogitsOf(model, ids)) { }
        Assert.Equal(resident, LayerOffload.LiveBytes(model));
        Assert.Equal(0, offload.LoadedBytes);
        Assert.Equal(2, offload.LayerReads);                                                  // the MTP module is not read by a plain forward
        Assert.Equal(Math.Max(offload.UnitBytes(1), offload.UnitBytes(2)), offload.PeakLoadedBytes);
    }

    [Fact]
    public void DeepSeek_MtpLogits_OffloadedEqualResident()
    {
        using var dir = new TempDir();
        string path = NewDeepSeek(dir);
        using var resident = ModelLoader.Load(path);
        using var offloaded = ModelLoader.Load(path, DeviceMap.Parse("0-2:cpu"));               // the MTP module stays on disk
        using var ids = Ids(DeepSeekTiny.VocabSize);
        using var _ = torch.no_grad();
        using var expected = resident.call(new CausalLMInput(ids) { OutputMtp = true });
        using var actual = offloaded.call(new CausalLMInput(ids) { OutputMtp = true });
        Assert.True(Same(actual.MtpLogits![0], expected.MtpLogits![0]));
        Assert.Equal(1, ((IOffloadedModel)offloaded).Offload!.LayerReads);
    }

    [Fact]
    public void DeepSeek_Bf16Checkpoint_OffloadedLogitsEqualResident()
    {
        using var dir = new TempDir();
        string path = NewDeepSeek(dir), bf16 = dir["bf16"];
        Directory.CreateDirectory(bf16);
        File.Copy(Path.Combine(path, "config.json"), Path.Combine(bf16, "config.json"));
        using (var file = SafeTensorsFile.Open(Path.Combine(path, CheckpointFolder.SingleFile)))
        {
            var tensors = file.Tensors.Keys.ToDictionary(n => n, n => { using var t = file.Load(n); return t.to(ScalarType.BFloat16); });
            SafeTensors.Save(Path.Combine(bf16, CheckpointFolder.SingleFile), tensors);
            foreach (var t in tensors.Values) t.Dispose();
        }
        using var resident = ModelLoader.Load(bf16);                                          // converted to float32 on load
        using var offloaded = ModelLoader.Load(bf16, DeviceMap.Parse("0:disk,1:cpu,2:disk"));
        using var ids = Ids(DeepSeekTiny.VocabSize);
        using var expected = LogitsOf(resident, ids);
        using var actual = LogitsOf(offloaded, ids);
        Assert.True(Same(actual, expected));
    }

    [Fact]
    public void Load_WithDiskLayers_ParametersStopRequiringGradients()
    {
        using var dir = new TempDir();
        string path = NewGpt2(dir);
        using var offloaded = ModelLoader.Load(path, DeviceMap.Parse("0-1:cpu,2-3:disk"));
        using var resident = ModelLoader.Load(path);
        Assert.All(offloaded.parameters(), p => Assert.False(p.requires_grad));
        Assert.Contains(resident.parameters(), p => p.requires_grad);
    }

    [Fact]
    public void DeepSeek_Budget_PlansFromLayerSizes()
    {
        using var dir = new TempDir();
        string path = NewDeepSeek(dir);
        var layout = DeepSeekV3ForCausalLM.Layout(DeepSeekTiny);
        long Bytes(string prefix) => 4 * layout.Expected.Where(e => e.Name.StartsWith(prefix)).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
        long resident = 4 * layout.Expected.Where(e => !e.Name.StartsWith("model.layers.")).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));
        long dense = Bytes("model.layers.0."), moe = Bytes("model.layers.1.");
        using var model = ModelLoader.Load(path, DeviceMap.Budget(resident + dense + moe));      // layer 0 kept, a MoE layer streamed
        Assert.Equal([LayerDevice.Cpu, LayerDevice.Disk, LayerDevice.Disk, LayerDevice.Disk], ((IOffloadedModel)model).Offload!.Placement);
    }
}
