using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Models.Common;

/// <summary>
/// LoRA settings (Hu et al. 2021), as PEFT's adapter_config.json (peft.LoraConfig): rank r, α (scaling α/r), dropout on
/// the adapter input, and the projections to adapt by module name. Defaults: PEFT's.
/// </summary>
public sealed record LoraConfig
{
    [JsonPropertyName("peft_type")] public string PeftType { get; init; } = "LORA";
    [JsonPropertyName("task_type")] public string TaskType { get; init; } = "CAUSAL_LM";
    [JsonPropertyName("base_model_name_or_path")] public string? BaseModelNameOrPath { get; init; }
    [JsonPropertyName("r")] public int R { get; init; } = 8;
    [JsonPropertyName("lora_alpha")] public double LoraAlpha { get; init; } = 8;
    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; init; }

    /// <summary>
    /// Module names to adapt (PEFT semantics: a projection matches when its module path equals the name or ends with
    /// "." + name, e.g. "c_attn", "q_proj", "kv_b_proj", "attn.c_proj"). Extension: a name of a containing module
    /// ("experts", "self_attn") selects every projection beneath it, so "experts" adapts the routed experts only.
    /// A PEFT file's single regex string is read as a one-name list.
    /// </summary>
    [JsonPropertyName("target_modules"), JsonConverter(typeof(StringOrArrayConverter))]
    public string[] TargetModules { get; init; } = [];

    [JsonPropertyName("bias")] public string Bias { get; init; } = "none";

    /// <summary>PEFT's flag for Conv1D targets (GPT-2), written true for GPT-2 as PEFT does; the lora_A/lora_B layout does not depend on it.</summary>
    [JsonPropertyName("fan_in_fan_out")] public bool FanInFanOut { get; init; }

    /// <summary>Rank-stabilised scaling α/√r (Kalajdzievski 2023) instead of α/r.</summary>
    [JsonPropertyName("use_rslora")] public bool UseRslora { get; init; }

    [JsonPropertyName("use_dora")] public bool UseDora { get; init; }
    [JsonPropertyName("inference_mode")] public bool InferenceMode { get; init; }

    /// <summary>s in W + s·B·A.</summary>
    [JsonIgnore] public double Scaling => Scale(LoraAlpha, R, UseRslora);

    /// <summary>α/r, or α/√r with rsLoRA.</summary>
    public static double Scale(double alpha, int r, bool rslora) => rslora ? alpha / Math.Sqrt(r) : alpha / r;

    /// <summary>Throws <see cref="ConfigException"/> naming the first unsupported or inconsistent field.</summary>
    public void Validate()
    {
        if (PeftType != "LORA") throw new ConfigException($"peft_type is '{PeftType}'; only 'LORA' adapters are supported");
        if (R < 1) throw new ConfigException($"LoRA r must be at least 1, got {R}");
        if (!(LoraAlpha > 0)) throw new ConfigException($"lora_alpha must be positive, got {LoraAlpha}");
        if (LoraDropout is < 0 or >= 1 || double.IsNaN(LoraDropout)) throw new ConfigException($"lora_dropout must be in [0, 1), got {LoraDropout}");
        if (TargetModules.Length == 0 || TargetModules.Any(string.IsNullOrWhiteSpace))
            throw new ConfigException("target_modules must name at least one module (e.g. \"c_attn\", \"q_proj\", \"kv_b_proj\") and no empty name");
        if (Bias != "none") throw new ConfigException($"bias '{Bias}' is not supported; LoRA adapters here train no biases (bias \"none\")");
        if (UseDora) throw new ConfigException("use_dora is not supported (DoRA adapters)");
    }

    /// <summary>True when the projection at <paramref name="modulePath"/> is selected by <paramref name="target"/> (see <see cref="TargetModules"/>).</summary>
    public static bool Matches(string modulePath, string target) =>
        modulePath == target || modulePath.EndsWith("." + target, StringComparison.Ordinal)                   // PEFT: the module itself
        || modulePath.StartsWith(target + ".", StringComparison.Ordinal) || modulePath.Contains("." + target + ".", StringComparison.Ordinal);   // a container of it

    internal static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>target_modules as PEFT writes it: a list, or one regex string.</summary>
    private sealed class StringOrArrayConverter : JsonConverter<string[]>
    {
        public override string[] Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
        {
            JsonTokenType.String => [reader.GetString()!],
            JsonTokenType.StartArray => JsonSerializer.Deserialize<string[]>(ref reader) ?? [],
            JsonTokenType.Null => [],
            _ => throw new JsonException("target_modules must be a list of module names"),
        };

        public override void Write(Utf8JsonWriter writer, string[] value, JsonSerializerOptions options)
        {
            writer.WriteStartArray();
            foreach (var s in value) writer.WriteStringValue(s);
            writer.WriteEndArray();
        }
    }
}
