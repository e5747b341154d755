using System.Text.Json;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;

namespace SharpSeek.Models;

/// <summary>Opens a Hugging Face model folder of any supported family, dispatching on config.json's <c>model_type</c>.</summary>
public static class ModelLoader
{
    /// <summary>The <c>model_type</c> of the folder's config.json.</summary>
    public static string ReadModelType(string dir)
    {
        string path = Path.Combine(dir, "config.json");
        if (!Directory.Exists(dir)) throw new CheckpointException($"{dir}: model folder not found");
        if (!File.Exists(path)) throw new CheckpointException($"{dir}: no config.json (not a model folder)");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("model_type", out var mt) && mt.ValueKind == JsonValueKind.String)
                return mt.GetString()!;
            throw new ConfigException($"{path}: no model_type");
        }
        catch (JsonException e) { throw new ConfigException($"{path}: invalid JSON ({e.Message})"); }
    }

    public static CausalLM Load(string dir) => ReadModelType(dir) switch
    {
        "gpt2" => Gpt2LMHeadModel.FromPretrained(dir),
        "deepseek_v3" => DeepSeekV3ForCausalLM.FromPretrained(dir),
        var other => throw new ConfigException($"{dir}: model_type '{other}' is not supported (supported: gpt2, deepseek_v3)"),
    };
}
