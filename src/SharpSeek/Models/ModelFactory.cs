using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Models.Common;

namespace SharpSeek.Models;

/// <summary>Creates new random-weight models from a preset plus per-key overrides (what <c>sharpseek init</c> does).</summary>
public static class ModelFactory
{
    /// <summary>
    /// The config JSON of <paramref name="preset"/> for <paramref name="arch"/> with <paramref name="overrides"/>
    /// (config.json keys → values) applied.
    /// </summary>
    public static string ResolveConfigJson(string arch, string preset, IReadOnlyDictionary<string, JsonNode?>? overrides = null)
    {
        string alias;
        try { alias = ModelFamilies.Get(arch).Alias; }
        catch (ConfigException) { throw new ConfigException($"unknown architecture '{arch}' (supported: {string.Join(", ", ModelFamilies.All.Select(f => f.Alias))})"); }
        var node = JsonNode.Parse(ModelPresets.Json(alias, preset)) as JsonObject
                   ?? throw new ConfigException($"preset '{preset}' is not a JSON object");
        if (overrides is not null)
            foreach (var (k, v) in overrides) node[k] = v?.DeepClone();
        return node.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// A new model with random weights (seeded) for <paramref name="configJson"/>, of the family its model_type names. The
    /// process-wide random generator is seeded for the initialisation and restored afterwards, so the caller's random
    /// stream is left as it was.
    /// </summary>
    public static CausalLM Create(string configJson, int seed = 1337)
    {
        var family = ModelFamilies.ForConfigJson(configJson);
        var global = TorchSharp.torch.Generator.Default;                      // the process-wide CPU generator
        using var saved = global.get_state();
        try
        {
            TorchSharp.torch.random.manual_seed(seed);
            return family.Create(configJson);
        }
        finally { global.set_state(saved); }
    }

    /// <summary>Creates <paramref name="outDir"/> (which must not exist or be empty) and saves a new model there.</summary>
    public static CausalLM CreateAndSave(string configJson, string outDir, int seed = 1337)
    {
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new SharpSeekException($"{outDir} already exists and is not empty (refusing to overwrite)");
        if (File.Exists(outDir)) throw new SharpSeekException($"{outDir} is a file");
        var model = Create(configJson, seed);
        model.SavePretrained(outDir);
        return model;
    }
}
