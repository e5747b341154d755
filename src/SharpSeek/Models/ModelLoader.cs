using System.Text.Json;
using SharpSeek.Models.Common;
using SharpSeek.Models.Offload;

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

    /// <summary>Loads the model folder <paramref name="dir"/> with the family its config.json's model_type names.</summary>
    public static CausalLM Load(string dir) => Load(dir, null);

    /// <summary>
    /// Loads <paramref name="dir"/>; with a <paramref name="map"/> its layers are placed as the map says (layers on disk are
    /// read from the safetensors file for each forward, see <see cref="LayerOffload"/>), without one it is fully resident.
    /// </summary>
    public static CausalLM Load(string dir, DeviceMap? map)
    {
        string modelType = ReadModelType(dir);
        ModelFamily family;
        try { family = ModelFamilies.Get(modelType); }
        catch (ConfigException e) { throw new ConfigException($"{dir}: {e.Message}"); }
        if (map is null) return family.Load(dir);
        if (Quantization.QuantizationConfig.FromFolder(dir) is not null)
            throw new ConfigException($"{dir}: a quantized model cannot be offloaded yet (--device-map/--max-memory read float layers); load it fully resident, or offload its float original");
        return family.Load(dir, map);
    }
}
