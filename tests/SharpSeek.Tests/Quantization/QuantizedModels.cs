using SharpSeek.Kernels;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Quantization;

/// <summary>
/// Tiny models whose every quantized input dimension is a multiple of 32 (GPT-2 of 64 too): GPT-2 (C = 64, 2 layers), and
/// DeepSeek-V3 with MLA (q_lora_rank 32 or 0), a dense layer then an MoE layer (4 routed experts top-2 + 1 shared).
/// Init std 0.2 keeps greedy decoding free of near-ties, as TestModels does.
/// </summary>
internal static class QuantizedModels
{
    public const string Gpt2 = "gpt2", DeepSeek = "deepseek", DeepSeekNoQLora = "deepseek-no-qlora", DeepSeekMtp = "deepseek-mtp";

    public static Gpt2Config Gpt2Config(bool tied = true, double std = 0.2) => new()
    {
        VocabSize = 256, NPositions = 64, NEmbd = 64, NLayer = 2, NHead = 2, InitializerRange = std, TieWordEmbeddings = tied,
    };

    public static DeepSeekV3Config DeepSeekConfig(int qLoraRank = 32, int mtp = 0, double std = 0.2) => new()
    {
        VocabSize = 256, MaxPositionEmbeddings = 64, HiddenSize = 64, IntermediateSize = 128, MoeIntermediateSize = 32,
        NumHiddenLayers = 2, NumAttentionHeads = 2, NumKeyValueHeads = 2, FirstKDenseReplace = 1,
        NRoutedExperts = 4, NSharedExperts = 1, NumExpertsPerTok = 2, NGroup = 2, TopkGroup = 1,
        KvLoraRank = 32, QLoraRank = qLoraRank, QkRopeHeadDim = 16, QkNopeHeadDim = 16, VHeadDim = 16,
        NumNextnPredictLayers = mtp, InitializerRange = std,
    };

    public static CausalLM Create(string kind, long seed = 7, double std = 0.2)
    {
        torch.manual_seed(seed);
        CausalLM model = kind switch
        {
            Gpt2 => new Gpt2LMHeadModel(Gpt2Config(std: std)),
            DeepSeek => new DeepSeekV3ForCausalLM(DeepSeekConfig(std: std)),
            DeepSeekNoQLora => new DeepSeekV3ForCausalLM(DeepSeekConfig(qLoraRank: 0, std: std)),
            DeepSeekMtp => new DeepSeekV3ForCausalLM(DeepSeekConfig(mtp: 1, std: std)),
            _ => throw new ArgumentException(kind),
        };
        model.eval();
        return model;
    }

    /// <summary>A quantized copy of <see cref="Create"/>'s model (same seed).</summary>
    public static CausalLM Quantized(string kind, QuantizationConfig config, long seed = 7, double std = 0.2)
    {
        var model = Create(kind, seed, std);
        ModelQuantizer.Quantize(model, config);
        return model;
    }

    /// <summary>
    /// The float model of <see cref="Create"/> with every weight <paramref name="config"/> quantizes replaced by its
    /// dequantized value: what a quantized model must compute exactly, up to float rounding.
    /// </summary>
    public static CausalLM DequantizedTwin(string kind, QuantizationConfig config, long seed = 7, double std = 0.2)
    {
        var model = Create(kind, seed, std);
        using var noGrad = torch.no_grad();
        var family = (IQuantizableModel)model;
        foreach (var w in family.QuantizableWeights(config))
        {
            using var scope = torch.NewDisposeScope();
            var target = w.Target?.Weight ?? family.EmbeddingTable(w.Name);
            using var q = QuantizedWeight.Quantize(target, config.Bits, config.GroupFor(w.Cols), config.ZeroPoint);
            target.copy_(q.Dequantize());
        }
        return model;
    }

    public static QuantizationConfig Int8(bool head = true, bool embeddings = false) => new() { Bits = 8, IncludeHead = head, IncludeEmbeddings = embeddings };

    public static QuantizationConfig Int4(int group = 32, bool zeroPoint = false, bool head = true, bool embeddings = false) =>
        new() { Bits = 4, GroupSize = group, ZeroPoint = zeroPoint, IncludeHead = head, IncludeEmbeddings = embeddings };

    /// <summary>Fixed token ids (1, T).</summary>
    public static Tensor Ids(int t = 24, long seed = 3) => torch.randint(0, 256, [1, t], generator: new torch.Generator((ulong)seed));

    /// <summary>Logits (1, T, V) without autograd.</summary>
    public static Tensor Logits(CausalLM model, Tensor ids)
    {
        using var noGrad = torch.no_grad();
        return model.Logits(ids);
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/> (1, T) by <paramref name="steps"/> tokens, full forward each step.</summary>
    public static long[] Greedy(CausalLM model, Tensor prompt, int steps)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var ids = prompt;
        var result = new long[steps];
        for (int i = 0; i < steps; i++)
        {
            var next = model.Logits(ids)[0, -1].argmax().item<long>();
            result[i] = next;
            ids = torch.cat([ids, torch.tensor(new[] { next }).view(1, 1)], 1);
        }
        return result;
    }

    /// <summary>RMS of (a − b) over the RMS of b: the error relative to the logits' scale.</summary>
    public static double RelativeError(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        return ((a - b).square().mean().sqrt() / b.square().mean().sqrt()).item<float>();
    }

    /// <summary>
    /// Exact float32 activations in the quantized kernels until disposed (<see cref="QuantizedGemm.Activations"/> is
    /// process-wide: only for tests in the non-parallel SIMD collection).
    /// </summary>
    internal static IDisposable ExactActivations()
    {
        var previous = QuantizedGemm.Activations;
        QuantizedGemm.Activations = QuantizedActivations.Float32;
        return new Restore(() => QuantizedGemm.Activations = previous);
    }

    private sealed class Restore(Action undo) : IDisposable { public void Dispose() => undo(); }
}
