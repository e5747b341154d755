using System.Text.Json.Nodes;
using SharpSeek.Models;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training;

/// <summary>The models <c>sharpseek train</c> builds: GPT-2 or DeepSeek-V3 from the config's shape (nanoGPT's model args), a pretrained folder (init_from), or a checkpoint.</summary>
public static class TrainingModels
{
    /// <summary>A <see cref="ModelBuilder"/> for <paramref name="config"/>; the vocabulary defaults to the data's, rounded up to a multiple of 64.</summary>
    public static ModelBuilder For(TrainConfig config, int dataVocabSize) => checkpointDir =>
    {
        if (checkpointDir is not null) return ModelLoader.Load(checkpointDir);
        if (config.InitFrom is not null) return ModelLoader.Load(config.InitFrom);
        return config.Arch switch
        {
            "gpt2" => new Gpt2LMHeadModel(Gpt2(config, dataVocabSize)),
            "deepseek" => new DeepSeekV3ForCausalLM(DeepSeek(config, dataVocabSize)),
            _ => throw new ConfigException($"arch '{config.Arch}' cannot be trained from scratch (supported: gpt2, deepseek)"),
        };
    };

    private static int Vocab(TrainConfig c, int dataVocabSize) => c.VocabSize > 0 ? c.VocabSize : (dataVocabSize + 63) / 64 * 64;

    /// <summary>GPT-2 config for training from scratch: n_positions = block_size, all dropouts = dropout.</summary>
    public static Gpt2Config Gpt2(TrainConfig c, int dataVocabSize) => new()
    {
        VocabSize = Vocab(c, dataVocabSize),
        NPositions = c.BlockSize, NEmbd = c.NEmbd, NLayer = c.NLayer, NHead = c.NHead,
        ResidPdrop = c.Dropout, EmbdPdrop = c.Dropout, AttnPdrop = c.Dropout,
        BosTokenId = null, EosTokenId = null,
    };

    /// <summary>Keys of a DeepseekV3Config that the training config sets itself (so <c>model</c> must not).</summary>
    private static readonly string[] OwnedDeepSeekKeys =
        ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
         "bias_update_speed", "aux_loss_alpha", "mtp_loss_weight", "num_nextn_predict_layers"];

    /// <summary>
    /// DeepSeek-V3 config for training from scratch: the <c>model_preset</c> JSON, then the <c>model</c> overrides, then
    /// hidden_size = n_embd, num_hidden_layers = n_layer, heads = n_head, max_position_embeddings ≥ block_size,
    /// γ, α, λ and D from the training config.
    /// </summary>
    public static DeepSeekV3Config DeepSeek(TrainConfig c, int dataVocabSize)
    {
        if (c.Dropout > 0) throw new ConfigException($"dropout {c.Dropout} is not supported for arch deepseek (set dropout=0)");
        var json = JsonNode.Parse(ModelPresets.Json("deepseek", c.ModelPreset)) as JsonObject
                   ?? throw new ConfigException($"deepseek preset '{c.ModelPreset}' is not a JSON object");
        foreach (var (key, value) in c.Model ?? new JsonObject())
        {
            if (OwnedDeepSeekKeys.Contains(key))
                throw new ConfigException($"model.{key} is set by the training config itself; use its own key (n_embd, n_layer, n_head, block_size, vocab_size, bias_update_speed, aux_loss_alpha, mtp_loss_weight, mtp_depth)");
            json[key] = value?.DeepClone();
        }
        json["vocab_size"] = Vocab(c, dataVocabSize);
        json["hidden_size"] = c.NEmbd;
        json["num_hidden_layers"] = c.NLayer;
        json["num_attention_heads"] = c.NHead;
        json["num_key_value_heads"] = c.NHead;
        int presetPositions = json["max_position_embeddings"]?.GetValue<int>() ?? 0;
        json["max_position_embeddings"] = Math.Max(c.BlockSize, presetPositions);             // RoPE: generation may run past block_size
        json["bias_update_speed"] = c.BiasUpdateSpeed;
        json["aux_loss_alpha"] = c.AuxLossAlpha;
        json["mtp_loss_weight"] = c.MtpLossWeight;
        json["num_nextn_predict_layers"] = c.MtpDepth;
        json["bos_token_id"] = null;
        json["eos_token_id"] = null;
        try { return DeepSeekV3Config.Parse(json.ToJsonString()); }
        catch (ConfigException e) { throw new ConfigException($"deepseek model from preset '{c.ModelPreset}' and the training config: {e.Message}"); }
    }
}
