using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

using SharpSeek.Models.Common;

namespace SharpSeek.Models;

/// <summary>
/// A reward model (Ouyang et al. 2022, §3.5; Hugging Face's <c>…ForSequenceClassification</c> with one label): a causal LM
/// trunk of any family (or a <see cref="LoraCausalLM"/>) and a scalar head <c>score</c> = Linear(C → 1, no bias) read at the
/// last non-padding token's final hidden state. The forward is the trunk's (generation and evaluation still work); the
/// reward is <see cref="Score(Tensor, Tensor)"/>.
/// <para>
/// Saved folder (<see cref="SavePretrained"/>): the trunk's own files (config.json, model.safetensors, adapter files for
/// LoRA) with <c>score.weight</c> (1, C) added to model.safetensors and config.json given <c>architectures</c>
/// [<c>GPT2ForSequenceClassification</c> / <c>DeepseekV3ForSequenceClassification</c>], <c>num_labels</c> 1, one-label
/// <c>id2label</c>/<c>label2id</c> and a <c>pad_token_id</c> (eos when absent). The trunk's LM head stays in the file (an
/// untied <c>lm_head.weight</c> too): the folder then remains a complete causal LM (the trunk's loader reads it, ignoring
/// <c>score.weight</c>), so PPO can start a value model from it; transformers' sequence-classification class reports the
/// head as an unused weight and loads the rest.
/// </para>
/// </summary>
public sealed class RewardModel : WrappedCausalLM
{
    /// <summary>The state-dict key of the scalar head, as Hugging Face names it.</summary>
    public const string ScoreWeight = CheckpointLayout.ScoreHead;

    private readonly Linear _score;                                   // HF key: score.weight (1, C)

    /// <summary>The language model whose last hidden state is scored.</summary>
    public CausalLM Trunk => Inner;

    /// <summary>The scalar head's weight (1, C), float32.</summary>
    public Parameter ScoreHeadWeight => _score.weight!;

    private RewardModel(CausalLM trunk) : base(nameof(RewardModel), trunk)
    {
        _score = nn.Linear(trunk.HiddenSize, 1, hasBias: false, device: trunk.Device);
        register_module("trunk", trunk);
        register_module("score", _score);
        AdoptInnerState();
    }

    /// <summary>
    /// A new reward model on <paramref name="trunk"/> (e.g. an SFT model), the head drawn from N(0, 1/(C + 1)) as TRL's reward
    /// trainer initialises value heads, from torch's global generator (the caller seeds it).
    /// </summary>
    public static RewardModel FromCausalLM(CausalLM trunk)
    {
        var model = new RewardModel(trunk);
        using (no_grad()) model._score.weight!.normal_(0, 1.0 / Math.Sqrt(trunk.HiddenSize + 1));
        return model;
    }

    /// <summary>
    /// Opens a reward-model folder: the trunk through its family (with LoRA adapters when adapter_config.json is there) and
    /// <c>score.weight</c>. A folder without the head, or with a head of the wrong shape, is a <see cref="CheckpointException"/>
    /// naming the folder and the tensor.
    /// </summary>
    public static RewardModel Load(string directory)
    {
        ModelLoader.ReadModelType(directory);
        using var folder = CheckpointFolder.Open(directory);
        if (!folder.Contains(ScoreWeight))
            throw new CheckpointException($"{directory}: no '{ScoreWeight}' tensor, so this is not a reward model folder (a language model has no score head; train one with `sharpseek reward`)");
        long[] shape = folder.Info(ScoreWeight).Shape;
        CausalLM trunk = ModelLoader.Load(directory);
        try
        {
            if (File.Exists(Path.Combine(directory, LoraAdapters.ConfigFile))) trunk = LoraCausalLM.Load(trunk, directory);
            if (!shape.SequenceEqual([1L, trunk.HiddenSize]))
                throw new CheckpointException($"{directory}: tensor '{ScoreWeight}' has shape [{string.Join(", ", shape)}], a reward model of hidden size {trunk.HiddenSize} needs [1, {trunk.HiddenSize}]");
            var model = new RewardModel(trunk);
            using var w = folder.Load(ScoreWeight);
            using (no_grad()) model._score.weight!.copy_(w.to(ScalarType.Float32));
            model.eval();
            return model;
        }
        catch { trunk.Dispose(); throw; }
    }

    /// <summary>Rewards (B) float32 of sequences <paramref name="inputIds"/> (B, T) with <paramref name="attentionMask"/> (B, T) (left or right padding).</summary>
    public Tensor Score(Tensor inputIds, Tensor attentionMask) => Score(inputIds, attentionMask, out _);

    /// <summary>
    /// Rewards (B) float32: the head applied to the final hidden state of each row's last real token (the last 1 of
    /// <paramref name="attentionMask"/>); <paramref name="auxiliaryLosses"/> are the trunk's (MoE balance losses in training mode).
    /// </summary>
    public Tensor Score(Tensor inputIds, Tensor attentionMask, out IReadOnlyList<Tensor> auxiliaryLosses)
    {
        using var scope = NewDisposeScope();
        var output = Inner.call(new CausalLMInput(inputIds) { AttentionMask = attentionMask, ComputeLogits = false });
        var last = LastTokenIndex(attentionMask);                                           // (B)
        var rows = arange(inputIds.shape[0], dtype: ScalarType.Int64, device: last.device);
        var h = output.LastHiddenState.index(TensorIndex.Tensor(rows), TensorIndex.Tensor(last));   // (B, C)
        var rewards = _score.call(h.to(ScalarType.Float32)).squeeze(-1);                     // (B)
        auxiliaryLosses = output.AuxiliaryLosses.Select(a => a.MoveToOuterDisposeScope()).ToList();
        return rewards.MoveToOuterDisposeScope();
    }

    /// <summary>Position of the last 1 in each row of <paramref name="attentionMask"/> (B, T) → (B) int64 (0 for an all-zero row).</summary>
    public static Tensor LastTokenIndex(Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        long t = attentionMask.shape[1];
        var positions = arange(t, dtype: ScalarType.Int64, device: attentionMask.device).unsqueeze(0);   // (1, T)
        return (positions * attentionMask.ne(0).to(ScalarType.Int64)).amax([1]).MoveToOuterDisposeScope();  // (B)
    }

    /// <summary>The trunk's folder, plus <c>score.weight</c> in model.safetensors and the sequence-classification keys in config.json (see the class summary).</summary>
    public override void SavePretrained(string directory)
    {
        Inner.SavePretrained(directory);
        string weightsPath = Path.Combine(directory, CheckpointFolder.SingleFile);
        if (!File.Exists(weightsPath))
            throw new InvalidOperationException($"{Inner.ModelType} saved no single {CheckpointFolder.SingleFile}; reward models need one file");
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        IReadOnlyDictionary<string, string> metadata;
        try
        {
            using (var file = SafeTensorsFile.Open(weightsPath))
            {
                metadata = file.Metadata;
                foreach (var name in file.Tensors.Keys) tensors[name] = file.Load(name);
            }
            tensors[ScoreWeight] = _score.weight!.detach().to(ScalarType.Float32).cpu().contiguous();
            SafeTensors.Save(weightsPath, tensors, metadata.Count > 0 ? metadata : new Dictionary<string, string> { ["format"] = "pt" });
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }

        string configPath = Path.Combine(directory, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["architectures"] = new JsonArray(SequenceClassificationArchitecture(config));
        config["num_labels"] = 1;
        config["id2label"] = new JsonObject { ["0"] = "LABEL_0" };
        config["label2id"] = new JsonObject { ["LABEL_0"] = 0 };
        if (config["pad_token_id"] is null && config["eos_token_id"] is JsonValue eos && eos.TryGetValue(out int eosId) && eosId < VocabSize)
            config["pad_token_id"] = eosId;                                                 // as HF's GPT-2 reward models: pad = eos
        AtomicFiles.WriteText(configPath, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The trunk's architecture with its LM suffix replaced: GPT2LMHeadModel → GPT2ForSequenceClassification, DeepseekV3ForCausalLM → DeepseekV3ForSequenceClassification.</summary>
    public static string SequenceClassificationArchitecture(JsonObject config)
    {
        string arch = config["architectures"] is JsonArray { Count: > 0 } a && a[0] is JsonValue v && v.TryGetValue(out string? s) ? s : "";
        if (arch.EndsWith("ForSequenceClassification", StringComparison.Ordinal)) return arch;
        foreach (var suffix in new[] { "LMHeadModel", "ForCausalLM" })
            if (arch.EndsWith(suffix, StringComparison.Ordinal)) return arch[..^suffix.Length] + "ForSequenceClassification";
        return config["model_type"]?.GetValue<string>() switch
        {
            "gpt2" => "GPT2ForSequenceClassification",
            "deepseek_v3" => "DeepseekV3ForSequenceClassification",
            var t => $"{t}ForSequenceClassification",
        };
    }
}
