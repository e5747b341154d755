using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;

namespace SharpSeek.Models.Gpt2;

/// <summary>The GPT-2 family: model_type and CLI alias "gpt2".</summary>
public sealed class Gpt2Family : ModelFamily
{
    public override string ModelType => "gpt2";
    public override string Alias => "gpt2";

    public override CausalLM Create(string configJson)
    {
        Gpt2Config? config;
        try { config = JsonSerializer.Deserialize<Gpt2Config>(configJson); }
        catch (JsonException e) { throw new ConfigException($"invalid config ({e.Message})"); }
        return new Gpt2LMHeadModel(config ?? throw new ConfigException("empty config"));
    }

    public override CausalLM Load(string directory) => Gpt2LMHeadModel.FromPretrained(directory);
    public override CausalLM Load(string directory, Offload.DeviceMap map) => Gpt2LMHeadModel.FromPretrained(directory, map);

    public override ModelFigures Inspect(string directory, CheckpointFolder checkpoint)
    {
        var c = Gpt2Config.Load(Path.Combine(directory, "config.json"));
        Gpt2LMHeadModel.Validate(c, checkpoint);
        long total = Quantization.QuantizationConfig.FromFolder(directory) is null
            ? checkpoint.Names.Where(n => !Gpt2LMHeadModel.IsBuffer(n)).Sum(n => checkpoint.Info(n).ElementCount)
            : Gpt2LMHeadModel.Layout(c, "").Expected.Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));   // quantized: the weights they stand for
        long wpe = (long)c.NPositions * c.NEmbd, wte = (long)c.VocabSize * c.NEmbd;
        // Matmul FLOPs: 2 per weight touched (the tied head counts once more) + attention over a full context.
        long flops = 2 * (total - wpe - wte) + (c.TieWordEmbeddings ? 2 * wte : 0) + 2L * c.NLayer * c.NPositions * c.NEmbd * 2;
        long kv = 2L * c.NLayer * c.NEmbd * 4;                                              // K and V, fp32
        return new ModelFigures(total, total, flops, kv);
    }

    /// <summary>n_positions = block_size, all dropouts = dropout, no BOS/EOS; extra keys are set last.</summary>
    public override string TrainingConfigJson(ModelShape shape)
    {
        var config = new Gpt2Config
        {
            VocabSize = shape.VocabSize, NPositions = shape.BlockSize, NEmbd = shape.NEmbd, NLayer = shape.NLayer, NHead = shape.NHead,
            ResidPdrop = shape.Dropout, EmbdPdrop = shape.Dropout, AttnPdrop = shape.Dropout, BosTokenId = null, EosTokenId = null,
        };
        var json = (JsonObject)JsonNode.Parse(config.ToJson())!;
        foreach (var (key, value) in shape.Extra ?? new JsonObject()) json[key] = value?.DeepClone();
        return json.ToJsonString();
    }
}
