using System.Text;
using System.Text.Json;

namespace SharpSeek.Tokenization;

/// <summary>Names of the special tokens a Hugging Face <c>tokenizer_config.json</c> declares (strings or <c>{"content": …}</c> objects).</summary>
public sealed record SpecialTokenNames(string? Bos, string? Eos, string? Pad, bool AddBosToken = false, bool AddEosToken = false);

/// <summary>Readers for the GPT-2 / Hugging Face tokenizer files (vocab.json, merges.txt, tokenizer_config.json), with clear errors.</summary>
public static class TokenizerFiles
{
    /// <summary>The files that make up a tokenizer in a Hugging Face model folder.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "encoder.json", "vocab.bpe", "char_vocab.json"];

    /// <summary>Copies whichever tokenizer files exist in <paramref name="from"/> into <paramref name="to"/>; throws if there are none.</summary>
    public static void CopyInto(string from, string to)
    {
        int copied = 0;
        foreach (var name in Names)
        {
            string src = Path.Combine(from, name);
            if (!File.Exists(src)) continue;
            File.Copy(src, Path.Combine(to, name), overwrite: true);
            copied++;
        }
        if (copied == 0) throw new TokenizerException($"{from}: no tokenizer files ({string.Join(", ", Names)})");
    }

    /// <summary>Reads <c>vocab.json</c> / <c>encoder.json</c>: a JSON object token → id.</summary>
    public static Dictionary<string, int> ReadVocab(string path)
    {
        using var doc = ParseJson(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new TokenizerException($"{path} must be a JSON object mapping tokens to ids.");
        return ReadVocabObject(doc.RootElement, path);
    }

    internal static Dictionary<string, int> ReadVocabObject(JsonElement obj, string path)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in obj.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                throw new TokenizerException($"{path}: token '{p.Name}' has no valid non-negative integer id.");
            vocab[p.Name] = id;
        }
        if (vocab.Count == 0) throw new TokenizerException($"{path} has an empty vocabulary.");
        return vocab;
    }

    /// <summary>Reads <c>merges.txt</c> / <c>vocab.bpe</c>: an optional <c>#version</c> line, then "left right" per line in rank order.</summary>
    public static List<(string Left, string Right)> ReadMerges(string path)
    {
        if (!File.Exists(path)) throw new TokenizerException($"Merges file {path} does not exist.");
        var merges = new List<(string, string)>();
        var lineNo = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNo++;
            if (lineNo == 1 && line.StartsWith("#version")) continue;
            if (line.Length == 0) continue;
            var parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new TokenizerException($"{path} line {lineNo}: expected two tokens separated by one space, got '{line}'.");
            merges.Add((parts[0], parts[1]));
        }
        return merges;
    }

    /// <summary>Reads <c>tokenizer_config.json</c> in <paramref name="dir"/> if present, else null.</summary>
    public static SpecialTokenNames? ReadConfig(string dir)
    {
        var path = Path.Combine(dir, "tokenizer_config.json");
        if (!File.Exists(path)) return null;
        using var doc = ParseJson(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new TokenizerException($"{path} must be a JSON object.");
        return new SpecialTokenNames(TokenName(root, "bos_token", path), TokenName(root, "eos_token", path), TokenName(root, "pad_token", path),
            Flag(root, "add_bos_token"), Flag(root, "add_eos_token"));
    }

    /// <summary>Id of a configured special token; throws if the tokenizer does not know it.</summary>
    internal static int? ResolveId(string? name, string role, Func<string, int?> lookup)
    {
        if (name is null) return null;
        return lookup(name) ?? throw new TokenizerException($"tokenizer_config.json names {role} '{name}', which is not in the vocabulary.");
    }

    internal static JsonDocument ParseJson(string path)
    {
        if (!File.Exists(path)) throw new TokenizerException($"Tokenizer file {path} does not exist.");
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e) { throw new TokenizerException($"{path} is not valid JSON: {e.Message}"); }
    }

    private static string? TokenName(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var v)) return null;
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new TokenizerException($"{path}: '{key}' must be a string or an object with a string 'content'."),
        };
    }

    private static bool Flag(JsonElement root, string key) =>
        root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.True;
}
