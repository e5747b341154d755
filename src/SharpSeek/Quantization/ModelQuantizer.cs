using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Quantization;

/// <summary>Weight-only quantization of a loaded float model, in place: every weight its <see cref="QuantizationConfig"/> selects is substituted.</summary>
public static class ModelQuantizer
{
    /// <summary>
    /// Quantizes <paramref name="model"/>'s weights as <paramref name="config"/> says (the float weights are released) and
    /// records the config in <see cref="CausalLM.Quantization"/>. Every shape is checked before anything changes.
    /// </summary>
    /// <exception cref="ConfigException">Unsupported settings, an input dimension not divisible by the group size, an already quantized model.</exception>
    public static void Quantize(CausalLM model, QuantizationConfig config)
    {
        config.Validate();
        if (model is not IQuantizableModel family) throw new ConfigException($"{model.ModelType} models cannot be quantized");
        if (model.Quantization is not null) throw new ConfigException("the model is already quantized");
        var weights = family.QuantizableWeights(config);
        if (config.Bits == 4)
            foreach (var w in weights) QuantizedWeight.CheckGroupSize(config.GroupSize!.Value, w.Cols, w.Name);
        using var noGrad = torch.no_grad();
        foreach (var w in weights)
        {
            using var scope = torch.NewDisposeScope();
            var floatWeight = w.Target is { } p ? p.Weight : family.EmbeddingTable(w.Name);          // (out, in)
            var q = QuantizedWeight.Quantize(floatWeight, config.Bits, config.GroupFor(w.Cols), config.ZeroPoint, w.Name);
            if (w.Target is { } target) target.Quantize(q);
            else family.QuantizeEmbedding(w.Name, q);
        }
        model.Quantization = config;
    }

    /// <summary>The quantized weight now standing for <paramref name="w"/>.</summary>
    public static QuantizedWeight Stored(IQuantizableModel model, QuantizableWeight w) =>
        w.Target?.Quantized ?? model.QuantizedEmbedding(w.Name) ?? throw new InvalidOperationException($"{w.Name} is not quantized");
}
