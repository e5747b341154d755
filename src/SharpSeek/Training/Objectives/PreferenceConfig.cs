using System.Text.Json.Serialization;

namespace SharpSeek.Training.Objectives;

/// <summary>Preference-pair settings shared by the reward model and DPO (the <c>preference</c> section of a training config).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PreferenceConfig
{
    /// <summary>JSONL file of (prompt, chosen, rejected) pairs.</summary>
    [JsonPropertyName("data")] public string Data { get; init; } = "";

    /// <summary>Held-out JSONL pairs; null = a deterministic hash split of <see cref="Data"/> (<see cref="ValFraction"/>).</summary>
    [JsonPropertyName("val_data")] public string? ValData { get; init; }

    /// <summary>Share of <see cref="Data"/> held out (by a hash of each line's text) when <see cref="ValData"/> is not set.</summary>
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; } = 0.1;

    /// <summary>DPO's β: the strength of the implicit KL constraint to the reference (Rafailov et al. 2023; TRL's default 0.1).</summary>
    [JsonPropertyName("beta")] public double Beta { get; init; } = 0.1;

    /// <summary>Chat template name ("chatml", "deepseek"); null = the model folder's tokenizer_config.json (default ChatML).</summary>
    [JsonPropertyName("template")] public string? Template { get; init; }

    /// <summary>DPO's frozen reference model folder; null = init_from.</summary>
    [JsonPropertyName("reference")] public string? Reference { get; init; }

    /// <summary>Longest encoded pair member (prompt + completion); 0 = the model's maximum sequence length. Longer pairs are an error.</summary>
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (Data.Length == 0) throw new ConfigException("preference.data must name a JSONL file");
        if (ValData is { Length: 0 }) throw new ConfigException("preference.val_data must name a JSONL file when set");
        if (!(ValFraction is > 0 and < 1)) throw new ConfigException($"preference.val_fraction must be in (0, 1), got {ValFraction}");
        if (!(Beta > 0) || double.IsInfinity(Beta)) throw new ConfigException($"preference.beta must be positive, got {Beta}");
        if (MaxLength < 0) throw new ConfigException($"preference.max_length must be 0 (the model's limit) or positive, got {MaxLength}");
    }
}
