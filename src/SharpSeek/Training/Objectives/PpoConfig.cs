using System.Text.Json.Serialization;

namespace SharpSeek.Training.Objectives;

/// <summary>RLHF with PPO settings (the <c>ppo</c> section of a training config).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PpoConfig
{
    /// <summary>JSONL file of prompts to roll out.</summary>
    [JsonPropertyName("prompts")] public string Prompts { get; init; } = "";

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (Prompts.Length == 0) throw new ConfigException("ppo.prompts must name a JSONL file");
    }
}
