using SharpSeek.Checkpoints;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpSeek.Tokenization.Chat;

/// <summary>Saves a Hugging Face tokenizer with added special tokens, so <see cref="HfTokenizer"/> (and transformers) load them natively.</summary>
public static class AddedTokenFiles
{
    /// <summary>
    /// Copies <c>tokenizer.json</c> (+ <c>tokenizer_config.json</c>) from <paramref name="sourceDir"/> to <paramref name="destDir"/>
    /// with <paramref name="tokens"/> appended to <c>added_tokens</c> (special, ids as <see cref="AddedTokensTokenizer"/> gives
    /// them). Returns the tokenizer loaded from <paramref name="destDir"/>. The source folder is never written.
    /// </summary>
    public static HfTokenizer Write(string sourceDir, string destDir, IEnumerable<string> tokens)
    {
        if (Path.GetFullPath(sourceDir).TrimEnd('/') == Path.GetFullPath(destDir).TrimEnd('/'))
            throw new ConfigException($"The tokenizer with added tokens must go to a new folder, not over {sourceDir}.");
        var source = HfTokenizer.FromFolder(sourceDir);
        var added = new AddedTokensTokenizer(source, tokens);
        var path = Path.Combine(sourceDir, "tokenizer.json");
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        var list = root["added_tokens"] as JsonArray ?? [];
        root["added_tokens"] = list;
        foreach (var (token, id) in added.AddedTokens.OrderBy(t => t.Value))
            if (id >= source.VocabSize)
                list.Add(new JsonObject
                {
                    ["id"] = id, ["content"] = token, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                    ["normalized"] = false, ["special"] = true,
                });
        Directory.CreateDirectory(destDir);
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        AtomicFiles.WriteText(Path.Combine(destDir, "tokenizer.json"), root.ToJsonString(options));
        var config = Path.Combine(sourceDir, "tokenizer_config.json");
        if (File.Exists(config))
            AtomicFiles.WriteText(Path.Combine(destDir, "tokenizer_config.json"), File.ReadAllText(config));
        return HfTokenizer.FromFolder(destDir);
    }
}
