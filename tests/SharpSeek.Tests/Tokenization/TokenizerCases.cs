using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Tokenization;

/// <summary>Reads a tokenizer fixture case (cases.jsonl) and builds tokenizer.json files from its GPT-2 vocab/merges.</summary>
internal static class TokenizerCases
{
    public const string Family = "tokenizer";

    /// <summary>The first case folder under &lt;root&gt;/tokenizer (for tests that need the GPT-2 files).</summary>
    public static string FirstCaseDir() =>
        Directory.GetDirectories(Path.Combine(Fixtures.Root, Family)).OrderBy(d => d, StringComparer.Ordinal).First();

    public static List<(string Text, int[] Ids)> Load(string caseDir) =>
        File.ReadLines(Path.Combine(caseDir, "cases.jsonl"))
            .Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray()))
            .ToList();

    /// <summary>A Hugging Face tokenizer.json equivalent to the case's vocab.json + merges.txt (merges as arrays when asked).</summary>
    public static string BuildTokenizerJson(string caseDir, bool mergesAsArrays)
    {
        var vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(caseDir, "vocab.json")))!;
        var merges = new JsonArray();
        foreach (var line in File.ReadLines(Path.Combine(caseDir, "merges.txt")).Skip(1).Where(l => l.Length > 0))
        {
            var p = line.Split(' ');
            merges.Add(mergesAsArrays ? new JsonArray(p[0], p[1]) : JsonValue.Create(line));
        }
        var eot = vocab["<|endoftext|>"]!.GetValue<int>();
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = eot, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = merges },
        };
        return root.ToJsonString();
    }
}
