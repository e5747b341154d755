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
public sealed class LoraCausalLM : CausalLM, IMultiTokenPredictor
{
    private readonly CausalLM _base;

    /// <summary>The adapters (merge, unmerge, save, parameter counts).</summary>
    public LoraAdapters Lora { get; }

    /// <summary>The adapted model.</summary>
    public CausalLM BaseModel => _base;

    private LoraCausalLM(CausalLM baseModel, LoraAdapters lora) : base(nameof(LoraCausalLM))
    {
        _base = baseModel; Lora = lora;
        register_module("base_model", baseModel);
        register_module("lora", new ModuleList<LoraAdapter>(lora.Adapters.Values.ToArray()));
        if (baseModel.ComputeDType != ScalarType.Float32) ComputeDType = baseModel.ComputeDType;
        if (!baseModel.training) eval();
    }

    /// <summary>Fresh adapters on <paramref name="baseModel"/> (see <see cref="LoraAdapters.Attach"/>).</summary>
    public static LoraCausalLM Attach(CausalLM baseModel, LoraConfig config) => new(baseModel, LoraAdapters.Attach(baseModel, config));

    /// <summary>The adapters saved in <paramref name="adapterDir"/> on <paramref name="baseModel"/> (see <see cref="LoraAdapters.Load"/>).</summary>
    public static LoraCausalLM Load(CausalLM baseModel, string adapterDir) => new(baseModel, LoraAdapters.Load(baseModel, adapterDir));

    public override int VocabSize => _base.VocabSize;
    public override int HiddenSize => _base.HiddenSize;
    public override int MaxSequenceLength => _base.MaxSequenceLength;
    public override string ModelType => _base.ModelType;
    public override Device Device => _base.Device;
    public override Projection OutputHead => _base.OutputHead;

    public override CausalLMOutput forward(CausalLMInput input) => _base.call(input);

    public override KvCache CreateKvCache(int batchSize, int capacity) => _base.CreateKvCache(batchSize, capacity);

    protected override void OnComputeDTypeChanged(ScalarType? dtype) => _base.ComputeDType = dtype ?? ScalarType.Float32;

    /// <summary>The base model's folder plus the adapter files. Throws when the adapters are merged (the weights would not be the base's).</summary>
    public override void SavePretrained(string directory)
    {
        if (Lora.IsMerged) throw new InvalidOperationException("unmerge the adapters before saving base and adapters");
        _base.SavePretrained(directory);
        Lora.Save(directory);
    }

    public int MtpDepth => _base is IMultiTokenPredictor m ? m.MtpDepth : 0;
    public double MtpLossWeight => _base is IMultiTokenPredictor m ? m.MtpLossWeight : 0;

    public KvCache CreateMtpKvCache(int batchSize, int capacity) => Predictor.CreateMtpKvCache(batchSize, capacity);

    public (Tensor Hidden, Tensor Logits) MtpForward(int module, Tensor nextIds, Tensor previous, KvCache cache) =>
        Predictor.MtpForward(module, nextIds, previous, cache);

    private IMultiTokenPredictor Predictor => _base as IMultiTokenPredictor ?? throw new NotSupportedException($"the base model ({ModelType}) has no multi-token-prediction modules");
}
