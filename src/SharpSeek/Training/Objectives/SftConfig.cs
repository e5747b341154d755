using System.Text.Json.Serialization;

namespace SharpSeek.Training.Objectives;

/// <summary>Supervised fine-tuning data and loss settings (the <c>sft</c> section of a training config).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record SftConfig
{
    /// <summary>JSONL file of conversations (<c>messages</c>) or <c>prompt</c>/<c>completion</c> pairs to train on.</summary>
    [JsonPropertyName("data")] public string Data { get; init; } = "";

    /// <summary>A second JSONL file held out for validation; null = hold out <see cref="ValFraction"/> of <see cref="Data"/>.</summary>
    [JsonPropertyName("val_data")] public string? ValData { get; init; }

    /// <summary>Share of <see cref="Data"/> held out when there is no val_data, chosen by a stable hash of the first user message.</summary>
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; } = 0.05;

    /// <summary>Chat template: "auto" (the init_from folder's chat_template when it is ChatML or DeepSeek, else ChatML), "chatml" or "deepseek".</summary>
    [JsonPropertyName("template")] public string Template { get; init; } = "auto";

    /// <summary>Pack several samples into one row of block_size (attention and positions restart per sample); false = one right-padded sample per row.</summary>
    [JsonPropertyName("packing")] public bool Packing { get; init; } = true;

    /// <summary>System message put first in every conversation that has none; null = none.</summary>
    [JsonPropertyName("system_prompt")] public string? SystemPrompt { get; init; }

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (Data.Length == 0) throw new ConfigException("sft.data must name a JSONL file");
        if (ValData is { Length: 0 }) throw new ConfigException("sft.val_data must name a JSONL file or be null");
        if (ValFraction is <= 0 or >= 1 || double.IsNaN(ValFraction))
            throw new ConfigException($"sft.val_fraction must be between 0 and 1 (exclusive), got {ValFraction}");
        if (Template is not ("auto" or "chatml" or "deepseek"))
            throw new ConfigException($"sft.template must be auto, chatml or deepseek, got '{Template}'");
    }
}
