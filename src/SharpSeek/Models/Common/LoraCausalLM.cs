using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// A base causal LM with LoRA adapters as one model (PEFT's PeftModelForCausalLM): the forward is the base's (the adapters
/// act inside its projections); its parameters are the frozen base's plus the adapters', registered here, so a trainer that
/// optimises a model's trainable parameters (any objective on the shared loop) trains the adapters alone.
/// <see cref="SavePretrained"/> writes the base folder and, next to it, adapter_model.safetensors + adapter_config.json, so
/// a checkpoint reloads with <see cref="Load"/>. The base stays bit-identical while training: the after-step hook is not
/// passed on (DeepSeek's router bias is part of the base and is not updated; its load statistics are not reported).
/// </summary>
public sealed class LoraCausalLM : WrappedCausalLM
{
    /// <summary>The adapters (merge, unmerge, save, parameter counts).</summary>
    public LoraAdapters Lora { get; }

    /// <summary>The adapted model.</summary>
    public CausalLM BaseModel => Inner;

    private LoraCausalLM(CausalLM baseModel, LoraAdapters lora) : base(nameof(LoraCausalLM), baseModel)
    {
        Lora = lora;
        register_module("base_model", baseModel);
        register_module("lora", new ModuleList<LoraAdapter>(lora.Adapters.Values.ToArray()));
        AdoptInnerState();
    }

    /// <summary>Fresh adapters on <paramref name="baseModel"/> (see <see cref="LoraAdapters.Attach"/>).</summary>
    public static LoraCausalLM Attach(CausalLM baseModel, LoraConfig config) => new(baseModel, LoraAdapters.Attach(baseModel, config));

    /// <summary>The adapters saved in <paramref name="adapterDir"/> on <paramref name="baseModel"/> (see <see cref="LoraAdapters.Load"/>).</summary>
    public static LoraCausalLM Load(CausalLM baseModel, string adapterDir) => new(baseModel, LoraAdapters.Load(baseModel, adapterDir));

    /// <summary>Not passed on: the base stays bit-identical (DeepSeek's router bias is part of it).</summary>
    public override void AfterOptimizerStep(Action<long[]>? sumOverRanks = null) { }

    /// <summary>Not reported: the base's routing is frozen.</summary>
    public override IReadOnlyList<double> ExpertLoadImbalance => [];

    /// <summary>The base model's folder plus the adapter files. Throws when the adapters are merged (the weights would not be the base's).</summary>
    public override void SavePretrained(string directory)
    {
        if (Lora.IsMerged) throw new InvalidOperationException("unmerge the adapters before saving base and adapters");
        Inner.SavePretrained(directory);
        Lora.Save(directory);
    }
}
