using SharpSeek.Checkpoints;
using SharpSeek.Kernels;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Quantization;
using SharpSeek.Tests.TestSupport;
using TorchSharp;
using static SharpSeek.Tests.Quantization.QuantizedModels;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Quantization;

/// <remarks>
/// Tests that compare with a float model holding the dequantized weights exactly set <see cref="QuantizedGemm.Activations"/>
/// to float32 (the fused kernels quantize activations to q8_0, a separate, bounded error tested in QuantizedGemmTests):
/// the setting is process-wide, hence the non-parallel collection.
/// </remarks>
[Collection(SharpSeek.Tests.Kernels.SimdPathCollection.Name)]
public class QuantizedModelTests
{

    public static TheoryData<string> Kinds => [Gpt2, DeepSeek, DeepSeekNoQLora, DeepSeekMtp];

    // Tolerances relative to the logits' RMS, for realistic init (std 0.02): int8 per-channel perturbs each weight by at
    // most half of max|w|/127, int4 by half of max|w|/8 per group, so int4's bound is an order of magnitude looser.
    private const double Int8Tolerance = 0.02, Int4Tolerance = 0.2;

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Logits_Int8_WithinTwoPercentOfFloat(string kind)
    {
        using var scope = NewDisposeScope();
        using var f = Create(kind, std: 0.02);
        using var q = Quantized(kind, Int8(), std: 0.02);
        var ids = Ids();
        double err = RelativeError(Logits(q, ids), Logits(f, ids));
        Assert.True(err <= Int8Tolerance, $"relative logit error {err:F4} > {Int8Tolerance}");
        Assert.True(err > 0, "quantization changed nothing: the quantized path is not in use");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Logits_Int4Group32_WithinTwentyPercentOfFloat(string kind)
    {
        using var scope = NewDisposeScope();
        using var f = Create(kind, std: 0.02);
        using var q = Quantized(kind, Int4(32), std: 0.02);
        var ids = Ids();
        double err = RelativeError(Logits(q, ids), Logits(f, ids));
        Assert.True(err <= Int4Tolerance, $"relative logit error {err:F4} > {Int4Tolerance}");
    }

    [Theory]
    [InlineData(Gpt2, 8, 0, false)]
    [InlineData(Gpt2, 4, 64, true)]
    [InlineData(DeepSeek, 4, 32, false)]
    [InlineData(DeepSeekNoQLora, 4, 32, true)]
    [InlineData(DeepSeekMtp, 8, 0, false)]
    public void Logits_Quantized_EqualFloatModelWithDequantizedWeights(string kind, int bits, int group, bool zeroPoint)
    {
        using var exact = ExactActivations();
        using var scope = NewDisposeScope();
        var config = bits == 8 ? Int8(embeddings: true) : Int4(group, zeroPoint, embeddings: true);
        using var q = Quantized(kind, config);
        using var twin = DequantizedTwin(kind, config);
        var ids = Ids();
        var expected = Logits(twin, ids);
        Assert.True(RelativeError(Logits(q, ids), expected) < 1e-5, "the quantized model does not compute its dequantized weights' function");
    }

    [Theory]
    [InlineData(Gpt2)]
    [InlineData(DeepSeek)]
    [InlineData(DeepSeekNoQLora)]
    public void Greedy_Int8_Agrees16TokensWithFloat(string kind)
    {
        using var scope = NewDisposeScope();
        using var f = Create(kind, std: 0.02);
        using var q = Quantized(kind, Int8(), std: 0.02);
        var prompt = Ids(t: 4);
        Assert.Equal(Greedy(f, prompt, 16), Greedy(q, prompt, 16));
    }

    [Theory]
    [InlineData(Gpt2, 8, 0, false, true)]
    [InlineData(Gpt2, 4, 64, true, false)]
    [InlineData(DeepSeek, 4, 32, false, true)]
    [InlineData(DeepSeekNoQLora, 8, 0, false, false)]
    [InlineData(DeepSeekMtp, 4, 32, true, true)]
    public void SaveLoad_QuantizedModel_GivesBitIdenticalLogits(string kind, int bits, int group, bool zeroPoint, bool embeddings)
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var config = bits == 8 ? Int8(embeddings: embeddings) : Int4(group, zeroPoint, embeddings: embeddings);
        using var q = Quantized(kind, config);
        q.SavePretrained(dir.Path);
        using var loaded = ModelLoader.Load(dir.Path);
        Assert.Equal(config, loaded.Quantization);
        var ids = Ids();
        Assert.True(Logits(loaded, ids).eq(Logits(q, ids)).all().item<bool>(), "logits after save and load differ");
    }

    [Theory]
    [InlineData(Gpt2, 8)]
    [InlineData(Gpt2, 4)]
    [InlineData(DeepSeekMtp, 8)]
    [InlineData(DeepSeekMtp, 4)]
    public void Load_QuantizedFolder_HoldsNoFloatWeightOfQuantizedLayers(string kind, int bits)
    {
        using var dir = new TempDir();
        var config = bits == 8 ? Int8(embeddings: true) : Int4(32, embeddings: true);
        using (var q = Quantized(kind, config)) q.SavePretrained(dir.Path);
        using var loaded = ModelLoader.Load(dir.Path);
        var family = (IQuantizableModel)loaded;
        var quantized = family.QuantizableWeights(config);
        var names = loaded.named_parameters().Select(p => p.name).ToHashSet();
        Assert.DoesNotContain(names, n => quantized.Any(w => w.Name == n));
        // Float bytes left = norms, biases, position embeddings, MoE routers: the float model's bytes minus the quantized weights'.
        using var f = Create(kind);
        long floatBytes = f.parameters().Sum(p => p.NumberOfElements * 4);
        long quantizedAsFloat = quantized.Sum(w => 4L * w.Rows * w.Cols);
        Assert.Equal(floatBytes - quantizedAsFloat, loaded.parameters().Sum(p => p.NumberOfElements * p.ElementSize));
        Assert.DoesNotContain(loaded.parameters(), p => p.device_type != DeviceType.CPU);
        long storage = quantized.Sum(w => ModelQuantizer.Stored(family, w).StorageBytes);
        Assert.True(storage < quantizedAsFloat / (bits == 8 ? 3 : 6), $"quantized storage {storage} B vs {quantizedAsFloat} B in float32");
    }

    [Theory]
    [InlineData(DeepSeek, 8)]
    [InlineData(DeepSeekNoQLora, 4)]
    public void Absorbed_QuantizedKvB_EqualsNaive(string kind, int bits)
    {
        using var exact = ExactActivations();
        using var scope = NewDisposeScope();
        using var q = Quantized(kind, bits == 8 ? Int8() : Int4(32));
        var model = (DeepSeekV3ForCausalLM)q;
        var ids = Ids();
        model.AttentionImpl = AttentionImpl.Naive;
        var naive = Logits(model, ids);
        model.AttentionImpl = AttentionImpl.Absorbed;
        var absorbed = Logits(model, ids);
        Assert.True(RelativeError(absorbed, naive) < 1e-5, $"absorbed differs from naive by {RelativeError(absorbed, naive)}");
    }

    [Fact]
    public void TiedGpt2_HeadIncluded_QuantizesTheSharedTable()
    {
        using var scope = NewDisposeScope();
        using var q = Quantized(Gpt2, Int4(64, head: true));
        var gpt2 = (Gpt2LMHeadModel)q;
        Assert.NotNull(q.OutputHead.Quantized);
        Assert.DoesNotContain(q.named_parameters(), p => p.name.Contains("wte"));
        // The embedding lookup reads the same table: the rows of the head's dequantized matrix.
        var ids = Ids(t: 5);
        var table = q.OutputHead.Weight;                                                     // (V, C) dequantized
        var rows = QuantizedEmbedding.Lookup(q.OutputHead.Quantized!, ids);                  // (1, 5, C)
        Assert.True(rows.eq(table.index_select(0, ids.view(-1)).view(1, 5, -1)).all().item<bool>());
        Assert.Equal(gpt2.Config.VocabSize, (int)q.OutputHead.OutFeatures);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void UntiedGpt2_HeadAndEmbeddingsQuantizedSeparately_RoundTripBitIdentical(bool head, bool embeddings)
    {
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        torch.manual_seed(11);
        using var model = new Gpt2LMHeadModel(Gpt2Config(tied: false));
        model.eval();
        ModelQuantizer.Quantize(model, Int4(64, head: head, embeddings: embeddings));
        Assert.Equal(head, model.OutputHead.Quantized is not null);
        Assert.Equal(!embeddings, model.named_parameters().Any(p => p.name == "transformer.wte.weight"));
        Assert.Equal(!head, model.named_parameters().Any(p => p.name == "lm_head.weight"));
        model.SavePretrained(dir.Path);
        using var loaded = ModelLoader.Load(dir.Path);
        var ids = Ids();
        Assert.True(Logits(loaded, ids).eq(Logits(model, ids)).all().item<bool>());
    }

    [Fact]
    public void Quantize_DimensionNotDivisibleByGroup_ThrowsNamingTensorAndLeavesModelFloat()
    {
        using var scope = NewDisposeScope();
        using var model = Create(DeepSeek);                                                   // expert down_proj takes 32 inputs
        var e = Assert.Throws<ConfigException>(() => ModelQuantizer.Quantize(model, Int4(64)));
        Assert.Contains("not divisible by the group size 64", e.Message);
        Assert.Contains(".weight", e.Message);
        Assert.Null(model.Quantization);
        Assert.DoesNotContain(LoraAdapters.ProjectionsOf(model), p => p.Target.Quantized is not null);
    }

    [Fact]
    public void Quantize_AlreadyQuantized_Throws()
    {
        using var q = Quantized(Gpt2, Int8());
        Assert.Throws<ConfigException>(() => ModelQuantizer.Quantize(q, Int8()));
    }

    [Fact]
    public void Forward_QuantizedProjectionWithGrad_GivesInputGradientOfDequantizedWeight()
    {
        using var scope = NewDisposeScope();
        torch.manual_seed(1);
        var p = new Projection(64, 8);
        var dense = new Projection(64, 8);
        using var q = QuantizedWeight.Quantize(p.Weight, 4, 32);
        using (torch.no_grad()) { dense.Weight.copy_(q.Dequantize()); dense.Bias!.copy_(p.Bias!); }
        p.Quantize(QuantizedWeight.Quantize(p.Weight, 4, 32));
        var x1 = torch.randn(3, 64, generator: new torch.Generator(2)).requires_grad_();
        var x2 = x1.detach().clone().requires_grad_();
        p.call(x1).square().sum().backward();
        dense.call(x2).square().sum().backward();
        Assert.True(x1.grad!.allclose(x2.grad!, 1e-5, 1e-6));
        Assert.Null(p.named_parameters().FirstOrDefault(n => n.name == "weight").parameter);
        Assert.NotNull(p.Bias!.grad);
    }

    [Theory]
    [InlineData(Gpt2)]
    [InlineData(DeepSeek)]
    public void Lora_OnQuantizedBase_GradientsEqualLoraOnDequantizedFloatBase(string kind)
    {
        using var exact = ExactActivations();
        using var scope = NewDisposeScope();
        var config = Int4(32);
        using var q = Quantized(kind, config);
        using var twin = DequantizedTwin(kind, config);
        string[] targets = kind == Gpt2 ? ["c_attn", "c_fc"] : ["q_b_proj", "kv_b_proj", "up_proj"];
        var lora = new LoraConfig { R = 4, LoraAlpha = 8, TargetModules = targets };
        torch.manual_seed(5);
        using var qa = LoraAdapters.Attach(q, lora);
        torch.manual_seed(5);
        using var ta = LoraAdapters.Attach(twin, lora);
        // lora_B starts at zero; give it values so lora_A gets a gradient too.
        using (torch.no_grad())
            foreach (var ((_, pq), (_, pt)) in qa.NamedParameters().Zip(ta.NamedParameters()))
                if (pq.shape.Length == 2 && pq.NumberOfElements > 0) { var v = torch.randn(pq.shape, generator: new torch.Generator(9)) * 0.1; pq.copy_(v); pt.copy_(v); }
        q.train(); twin.train();
        var ids = Ids(t: 12);
        LossOf(q, ids).backward();
        LossOf(twin, ids).backward();
        int compared = 0;
        foreach (var ((name, pq), (_, pt)) in qa.NamedParameters().Zip(ta.NamedParameters()))
        {
            Assert.NotNull(pq.grad);
            Assert.True(pq.grad!.abs().sum().item<float>() > 0, $"{name} got no gradient");
            Assert.True(pq.grad.allclose(pt.grad!, 1e-4, 1e-6), $"{name}: gradient differs from LoRA on the dequantized float model");
            compared++;
        }
        Assert.True(compared >= 4);
        Assert.Throws<ConfigException>(() => qa.Merge());
    }

    private static Tensor LossOf(CausalLM model, Tensor ids)
    {
        var logits = model.call(new CausalLMInput(ids)).TakeLogits();                          // (1, T, V)
        return nn.functional.cross_entropy(logits[0, ..^1], ids[0, 1..]);
    }
}
