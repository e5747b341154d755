using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Data;

/// <summary>A fetched corpus's provenance card (written next to its text as NAME.json), after Gebru et al. 2018 "Datasheets for Datasets" in miniature.</summary>
public sealed record CorpusCard
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("source")] public string Source { get; init; } = "";
    [JsonPropertyName("licence")] public string Licence { get; init; } = "";
    [JsonPropertyName("text_file")] public string TextFile { get; init; } = "";
    [JsonPropertyName("bytes")] public long Bytes { get; init; }
    /// <summary>Unicode code points (what Python's <c>len(str)</c> counts).</summary>
    [JsonPropertyName("characters")] public long Characters { get; init; }
    [JsonPropertyName("documents")] public long Documents { get; init; }

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads a card; throws <see cref="DataException"/> when missing or malformed.</summary>
    public static CorpusCard Load(string path)
    {
        if (!File.Exists(path)) throw new DataException($"corpus card {path} does not exist");
        try { return JsonSerializer.Deserialize<CorpusCard>(File.ReadAllText(path)) ?? throw new DataException($"corpus card {path} is empty"); }
        catch (JsonException e) { throw new DataException($"corpus card {path} is not valid JSON: {e.Message}"); }
    }
}
