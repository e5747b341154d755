using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;

namespace SharpSeek.Models.DeepSeek;

/// <summary>The DeepSeek-V3 family: model_type deepseek_v3, CLI alias and preset prefix "deepseek".</summary>
public sealed class DeepSeekFamily : ModelFamily
{
    public override string ModelType => "deepseek_v3";
    public override string Alias => "deepseek";

    public override CausalLM Create(string configJson) => new DeepSeekV3ForCausalLM(DeepSeekV3Config.Parse(configJson));

    public override CausalLM Load(string directory) => DeepSeekV3ForCausalLM.FromPretrained(directory);
    public override CausalLM Load(string directory, Offload.DeviceMap map) => DeepSeekV3ForCausalLM.FromPretrained(directory, map);

    public override ModelFigures Inspect(string directory, CheckpointFolder checkpoint)
    {
        var c = DeepSeekV3Config.Load(Path.Combine(directory, DeepSeekV3ForCausalLM.ConfigFile));
        DeepSeekV3ForCausalLM.Validate(c, checkpoint);
        var layout = DeepSeekV3ForCausalLM.Layout(c);
        long total = Quantization.QuantizationConfig.FromFolder(directory) is null
            ? checkpoint.Names.Sum(n => checkpoint.Info(n).ElementCount)
            : layout.Expected.Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));              // quantized: the weights they stand for
        long expertParams = layout.Expected.Where(t => t.Name.Contains(".mlp.experts.")).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        long active = c.NRoutedExperts > 0 ? total - expertParams + expertParams * c.NumExpertsPerTok / c.NRoutedExperts : total;
        long embed = (long)c.VocabSize * c.HiddenSize;
        long flops = 2 * (active - embed) + 2L * c.NumHiddenLayers * c.MaxPositionEmbeddings * c.NumAttentionHeads * (c.QkHeadDim + c.VHeadDim);
        long kv = (long)c.NumHiddenLayers * (c.KvLoraRank + c.QkRopeHeadDim) * 4;    // absorbed MLA cache, fp32
        return new ModelFigures(total, active, flops, kv);
    }

    /// <summary>Keys of a DeepseekV3Config that the shape sets itself (so the extra keys must not).</summary>
    private static readonly string[] ShapeKeys =
        ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "max_position_embeddings",
         "bias_update_speed", "aux_loss_alpha", "mtp_loss_weight", "num_nextn_predict_layers"];

    /// <summary>
    /// The preset JSON (<see cref="ModelShape.Preset"/>), then the extra keys, then hidden_size = n_embd,
    /// num_hidden_layers = n_layer, heads = n_head, max_position_embeddings ≥ block_size (RoPE: generation may run past it).
    /// </summary>
    public override string TrainingConfigJson(ModelShape shape)
    {
        if (shape.Dropout > 0) throw new ConfigException($"dropout {shape.Dropout} is not supported for arch deepseek (set dropout=0)");
        var json = JsonNode.Parse(ModelPresets.Json(Alias, shape.Preset)) as JsonObject
                   ?? throw new ConfigException($"deepseek preset '{shape.Preset}' is not a JSON object");
        foreach (var (key, value) in shape.Extra ?? new JsonObject())
        {
            if (ShapeKeys.Contains(key))
                throw new ConfigException($"model.{key} is set by the training config itself; use its own key (n_embd, n_layer, n_head, block_size, vocab_size, bias_update_speed, aux_loss_alpha, mtp_loss_weight, mtp_depth)");
            json[key] = value?.DeepClone();
        }
        json["vocab_size"] = shape.VocabSize;
        json["hidden_size"] = shape.NEmbd;
        json["num_hidden_layers"] = shape.NLayer;
        json["num_attention_heads"] = shape.NHead;
        json["num_key_value_heads"] = shape.NHead;
        int presetPositions = json["max_position_embeddings"]?.GetValue<int>() ?? 0;
        json["max_position_embeddings"] = Math.Max(shape.BlockSize, presetPositions);
        json["bias_update_speed"] = shape.BiasUpdateSpeed;
        json["aux_loss_alpha"] = shape.AuxLossAlpha;
        json["mtp_loss_weight"] = shape.MtpLossWeight;
        json["num_nextn_predict_layers"] = shape.MtpDepth;
        json["bos_token_id"] = null;
        json["eos_token_id"] = null;
        return json.ToJsonString();
    }
}
