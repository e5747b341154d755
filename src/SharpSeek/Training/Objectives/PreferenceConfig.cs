using System.Text.Json.Serialization;

namespace SharpSeek.Training.Objectives;

/// <summary>Preference-pair settings shared by the reward model and DPO (the <c>preference</c> section of a training config).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PreferenceConfig
{
    /// <summary>JSONL file of (prompt, chosen, rejected) pairs.</summary>
    [JsonPropertyName("data")] public string Data { get; init; } = "";

    /// <summary>Throws <see cref="ConfigException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (Data.Length == 0) throw new ConfigException("preference.data must name a JSONL file");
    }
}
