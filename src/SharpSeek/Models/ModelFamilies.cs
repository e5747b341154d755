using System.Text.Json;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;

namespace SharpSeek.Models;

/// <summary>The supported model families: the one place that lists them (add a family here).</summary>
public static class ModelFamilies
{
    public static readonly IReadOnlyList<ModelFamily> All = [new Gpt2Family(), new DeepSeekFamily()];

    private static string Supported => string.Join(", ", All.Select(f => f.ModelType == f.Alias ? f.ModelType : $"{f.ModelType} ({f.Alias})"));

    /// <summary>The family whose model_type or alias is <paramref name="name"/>; <see cref="ConfigException"/> listing the supported ones otherwise.</summary>
    public static ModelFamily Get(string name) =>
        All.FirstOrDefault(f => f.ModelType == name || f.Alias == name)
        ?? throw new ConfigException($"model type '{name}' is not supported (supported: {Supported})");

    /// <summary>The family of a config JSON text (by its model_type).</summary>
    public static ModelFamily ForConfigJson(string configJson)
    {
        string? modelType;
        try { modelType = System.Text.Json.Nodes.JsonNode.Parse(configJson)?["model_type"]?.GetValue<string>(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new ConfigException($"invalid config ({e.Message})"); }
        return Get(modelType ?? throw new ConfigException("config has no model_type"));
    }
}
