using System.Text;
using System.Text.Json;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Data.Preference;

/// <summary>
/// Reads preference pairs from JSONL, one object per line (TRL's preference formats): <c>{"prompt": "…", "chosen": "…",
/// "rejected": "…"}</c>, where <c>prompt</c> may also be a list of messages <c>[{"role": "system"|"user"|"assistant",
/// "content": "…"}, …]</c> and <c>chosen</c>/<c>rejected</c> a one-message list <c>[{"role": "assistant", "content": "…"}]</c>.
/// Blank lines are skipped. Every problem is a <see cref="DataException"/> naming file:line.
/// </summary>
public static class PreferenceJsonl
{
    /// <summary>The pairs of <paramref name="path"/>; throws <see cref="DataException"/> for a missing or empty file or a bad line.</summary>
    public static IReadOnlyList<PreferencePair> Read(string path)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: preference data file not found");
        var pairs = new List<PreferencePair>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            pairs.Add(Parse(line, $"{path}:{lineNo}"));
        }
        if (pairs.Count == 0) throw new DataException($"{path}: no preference pairs (the file is empty)");
        return pairs;
    }

    /// <summary>One JSONL line as a pair; <paramref name="source"/> ("file:line") prefixes every error.</summary>
    public static PreferencePair Parse(string line, string source)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new DataException($"{source}: not valid JSON ({e.Message})"); }
        using var _ = doc;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new DataException($"{source}: expected a JSON object with \"prompt\", \"chosen\" and \"rejected\", got {root.ValueKind}");
        var prompt = Prompt(Field(root, "prompt", source), source);
        string chosen = Completion(Field(root, "chosen", source), "chosen", source);
        string rejected = Completion(Field(root, "rejected", source), "rejected", source);
        if (chosen == rejected) throw new DataException($"{source}: \"chosen\" and \"rejected\" are identical, so the pair states no preference");
        return new PreferencePair(prompt, chosen, rejected, source);
    }

    private static JsonElement Field(JsonElement root, string name, string source) =>
        root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v
            : throw new DataException($"{source}: missing field \"{name}\" (each line needs \"prompt\", \"chosen\" and \"rejected\")");

    private static IReadOnlyList<ChatMessage> Prompt(JsonElement e, string source)
    {
        if (e.ValueKind == JsonValueKind.String) return [new ChatMessage(ChatMessage.User, e.GetString()!)];
        if (e.ValueKind != JsonValueKind.Array)
            throw new DataException($"{source}: \"prompt\" must be a string or a list of messages, got {e.ValueKind}");
        var messages = e.EnumerateArray().Select((m, i) => Message(m, $"prompt[{i}]", source)).ToList();
        if (messages.Count == 0) throw new DataException($"{source}: \"prompt\" is an empty list of messages");
        if (messages[^1].Role == ChatMessage.Assistant)
            throw new DataException($"{source}: the last \"prompt\" message is an assistant turn; the prompt must end before the answer");
        return messages;
    }

    private static string Completion(JsonElement e, string name, string source)
    {
        string text;
        if (e.ValueKind == JsonValueKind.String) text = e.GetString()!;
        else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 1)
        {
            var m = Message(e[0], $"{name}[0]", source);
            if (m.Role != ChatMessage.Assistant) throw new DataException($"{source}: \"{name}\" must be an assistant message, got role \"{m.Role}\"");
            text = m.Content;
        }
        else throw new DataException($"{source}: \"{name}\" must be a string or a list of one assistant message");
        if (text.Trim().Length == 0) throw new DataException($"{source}: \"{name}\" is empty");
        return text;
    }

    private static ChatMessage Message(JsonElement m, string where, string source)
    {
        if (m.ValueKind != JsonValueKind.Object
            || !m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String
            || !m.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
            throw new DataException($"{source}: {where} must be an object with string \"role\" and \"content\"");
        string r = role.GetString()!;
        if (!ChatMessage.Roles.Contains(r))
            throw new DataException($"{source}: {where} has role \"{r}\"; roles are system, user and assistant");
        return new ChatMessage(r, content.GetString()!);
    }
}
