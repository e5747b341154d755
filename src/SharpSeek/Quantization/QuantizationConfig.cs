using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpSeek.Quantization;

/// <summary>
/// config.json's <c>quantization_config</c> for a SharpSeek weight-only quantized model (docs/quantization.md):
/// {"quant_method": "sharpseek", "format_version": 1, "bits": 8|4, "group_size": 32|64|128 (int4; null for int8, per
/// output channel), "zero_point": bool (int4 only), "include_head": bool, "include_embeddings": bool}. Every linear layer
/// is quantized except the MoE router; the output head and the token embedding only when included (a tied GPT-2 head
/// is the token embedding: either flag quantizes that one table).
/// </summary>
public sealed record QuantizationConfig
{
    public const string Key = "quantization_config";
    public const string Method = "sharpseek";
    public const int CurrentFormatVersion = 1;

    public int Bits { get; init; } = 8;

    /// <summary>Columns per scale for int4 (32, 64 or 128); null for int8 (one scale per output channel).</summary>
    public int? GroupSize { get; init; }

    /// <summary>int4 with a uint8 zero point per group (asymmetric) instead of the fixed 8.</summary>
    public bool ZeroPoint { get; init; }

    public bool IncludeHead { get; init; }
    public bool IncludeEmbeddings { get; init; }

    /// <summary>Throws <see cref="ConfigException"/> naming the first unsupported key.</summary>
    public void Validate()
    {
        if (Bits is not (8 or 4)) throw new ConfigException($"{Key}.bits must be 8 or 4, got {Bits}");
        if (Bits == 8 && GroupSize is not null) throw new ConfigException($"{Key}.group_size must be null for bits 8 (one scale per output channel), got {GroupSize}");
        if (Bits == 4 && GroupSize is not (32 or 64 or 128)) throw new ConfigException($"{Key}.group_size must be 32, 64 or 128 for bits 4, got {(GroupSize is null ? "null" : GroupSize)}");
        if (Bits == 8 && ZeroPoint) throw new ConfigException($"{Key}.zero_point must be false for bits 8 (int8 is symmetric)");
    }

    /// <summary>Columns sharing a scale in a weight with <paramref name="cols"/> input features.</summary>
    public int GroupFor(int cols) => Bits == 8 ? cols : GroupSize!.Value;

    private static readonly string[] Keys = ["quant_method", "format_version", "bits", "group_size", "zero_point", "include_head", "include_embeddings"];

    /// <summary>The JSON object written into config.json.</summary>
    public JsonObject ToJson() => new()
    {
        ["quant_method"] = Method, ["format_version"] = CurrentFormatVersion, ["bits"] = Bits, ["group_size"] = GroupSize,
        ["zero_point"] = ZeroPoint, ["include_head"] = IncludeHead, ["include_embeddings"] = IncludeEmbeddings,
    };

    /// <summary>Parses a <c>quantization_config</c> object; <see cref="ConfigException"/> naming the key that is unknown, missing or unsupported.</summary>
    public static QuantizationConfig Parse(JsonNode? node)
    {
        if (node is not JsonObject obj) throw new ConfigException($"{Key} must be a JSON object");
        foreach (var (key, _) in obj)
            if (!Keys.Contains(key)) throw new ConfigException($"{Key}.{key} is not a known key (known: {string.Join(", ", Keys)})");
        string method = Get<string>(obj, "quant_method") ?? throw new ConfigException($"{Key}.quant_method is missing");
        if (method != Method) throw new ConfigException($"{Key}.quant_method '{method}' is not supported (SharpSeek reads '{Method}')");
        int version = Get<int?>(obj, "format_version") ?? throw new ConfigException($"{Key}.format_version is missing");
        if (version != CurrentFormatVersion) throw new ConfigException($"{Key}.format_version {version} is not supported (SharpSeek reads {CurrentFormatVersion})");
        var config = new QuantizationConfig
        {
            Bits = Get<int?>(obj, "bits") ?? throw new ConfigException($"{Key}.bits is missing"),
            GroupSize = Get<int?>(obj, "group_size"),
            ZeroPoint = Get<bool?>(obj, "zero_point") ?? false,
            IncludeHead = Get<bool?>(obj, "include_head") ?? false,
            IncludeEmbeddings = Get<bool?>(obj, "include_embeddings") ?? false,
        };
        config.Validate();
        return config;
    }

    private static T? Get<T>(JsonObject obj, string key)
    {
        if (!obj.TryGetPropertyValue(key, out var value) || value is null) return default;
        try { return value.GetValue<T>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw new ConfigException($"{Key}.{key} has the wrong type ({value.ToJsonString()})");
        }
    }

    /// <summary>The folder's quantization config, or null for a float model (no <c>quantization_config</c> in its config.json).</summary>
    public static QuantizationConfig? FromFolder(string directory)
    {
        string path = Path.Combine(directory, "config.json");
        if (!File.Exists(path)) return null;
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException) { return null; }                                    // the family's config loader reports it
        if (root is not JsonObject obj || !obj.TryGetPropertyValue(Key, out var q) || q is null) return null;
        try { return Parse(q); }
        catch (ConfigException e) { throw new ConfigException($"{path}: {e.Message}"); }
    }

    /// <summary><paramref name="configJson"/> with <c>quantization_config</c> set to <paramref name="config"/> (removed when null).</summary>
    public static string WithConfig(string configJson, QuantizationConfig? config)
    {
        var root = JsonNode.Parse(configJson) as JsonObject ?? throw new ConfigException("config.json is not a JSON object");
        root.Remove(Key);
        if (config is not null) root[Key] = config.ToJson();
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
