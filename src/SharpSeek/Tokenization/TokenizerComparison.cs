using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpSeek.Tokenization;

/// <summary>
/// Whether two folders hold the same tokenizer: the files that fix the ids (tokenizer.json's model and added tokens,
/// vocab.json / encoder.json, merges.txt / vocab.bpe, char_vocab.json) must exist in both or neither and say the same thing
/// (JSON compared by content, merges by rank order); tokenizer_config.json and special_tokens_map.json are not compared.
/// </summary>
public static class TokenizerComparison
{
    private static readonly string[] JsonFiles = ["vocab.json", "encoder.json", "char_vocab.json"];
    private static readonly string[] MergeFiles = ["merges.txt", "vocab.bpe"];

    /// <summary>The first difference between the tokenizers of <paramref name="a"/> and <paramref name="b"/> (one phrase), or null when they match.</summary>
    public static string? Difference(string a, string b)
    {
        if (!TokenizerFiles.Names.Any(n => File.Exists(Path.Combine(a, n)))) return $"{a} holds no tokenizer files";
        if (!TokenizerFiles.Names.Any(n => File.Exists(Path.Combine(b, n)))) return $"{b} holds no tokenizer files";
        foreach (var name in JsonFiles.Concat(MergeFiles).Prepend("tokenizer.json"))
        {
            string fa = Path.Combine(a, name), fb = Path.Combine(b, name);
            bool ea = File.Exists(fa), eb = File.Exists(fb);
            if (ea != eb) return $"{name} is only in {(ea ? a : b)}";
            if (!ea || File.ReadAllBytes(fa).AsSpan().SequenceEqual(File.ReadAllBytes(fb))) continue;
            bool same = name switch
            {
                "tokenizer.json" => SameJson(fa, fb, "model") && SameJson(fa, fb, "added_tokens"),
                _ when MergeFiles.Contains(name) => TokenizerFiles.ReadMerges(fa).SequenceEqual(TokenizerFiles.ReadMerges(fb)),
                _ => SameJson(fa, fb, null),
            };
            if (!same) return $"their {name} differ";
        }
        return null;
    }

    private static bool SameJson(string a, string b, string? key)
    {
        try
        {
            var x = JsonNode.Parse(File.ReadAllText(a));
            var y = JsonNode.Parse(File.ReadAllText(b));
            return key is null ? JsonNode.DeepEquals(x, y) : JsonNode.DeepEquals(x?[key], y?[key]);
        }
        catch (JsonException) { return false; }
    }
}
