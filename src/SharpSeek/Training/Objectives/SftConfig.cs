using System.Text.Json.Serialization;

namespace SharpSeek.Training.Objectives;

/// <summary>Supervised fine-tuning data and loss settings (the <c>sft</c> section of a training config).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record SftConfig
{
    /// <summary>JSONL file of conversations (<c>messages</c>) or <c>prompt</c>/<c>completion</c> pairs to train on.</summary>
    [JsonPropertyName("data")] public string Data { get; init; } = "";

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (Data.Length == 0) throw new ConfigException("sft.data must name a JSONL file");
    }
}
