using System.Text.Json;
using SharpSeek.Checkpoints;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Data.Chat;

/// <summary>One supervised example: a conversation with at least one assistant turn, and where it came from ("file:line").</summary>
public sealed record SftExample(IReadOnlyList<ChatMessage> Messages, string Source)
{
    /// <summary>The first user message (else the first message): what the hold-out split hashes, so repeats of a prompt stay together.</summary>
    public string Key => (Messages.FirstOrDefault(m => m.Role == ChatMessage.User) ?? Messages[0]).Content;
}

/// <summary>
/// Reads SFT JSONL (TRL's conversational and prompt-completion formats, as <see cref="Tasks.SftJsonlWriter"/> writes them):
/// one object per line, either <c>{"messages": [{"role": "system"|"user"|"assistant", "content": "…"}, …]}</c> or
/// <c>{"prompt": "…", "completion": "…"}</c> (a user turn and an assistant turn). Blank lines are skipped.
/// </summary>
public static class SftJsonl
{
    /// <summary>
    /// Every example of <paramref name="path"/>; <paramref name="systemPrompt"/>, if given, goes first in conversations without a
    /// system message. Throws <see cref="DataException"/> naming the file and 1-based line for a line that is not JSON, a
    /// missing or ill-typed field, an unknown role, an empty completion or assistant message, a conversation without an
    /// assistant turn, and for a missing or empty file.
    /// </summary>
    public static IReadOnlyList<SftExample> Read(string path, string? systemPrompt = null)
    {
        if (!File.Exists(path)) throw new DataException($"SFT data file {path} does not exist");
        var examples = new List<SftExample>();
        int lineNo = 0;
        IEnumerable<string> lines;
        try { lines = File.ReadLines(path, AtomicFiles.StrictUtf8).ToList(); }
        catch (System.Text.DecoderFallbackException) { throw new DataException($"{path}: not UTF-8 text"); }
        foreach (string line in lines)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            examples.Add(ParseLine(line, $"{path}:{lineNo}", systemPrompt));
        }
        if (examples.Count == 0) throw new DataException($"SFT data file {path} has no examples");
        return examples;
    }

    /// <summary>One JSONL line; <paramref name="where"/> ("file:line") starts every error message.</summary>
    public static SftExample ParseLine(string line, string where, string? systemPrompt = null)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new DataException($"{where}: not valid JSON ({e.Message})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new DataException($"{where}: expected a JSON object with \"messages\", or \"prompt\" and \"completion\"");
            bool hasMessages = root.TryGetProperty("messages", out var messagesElement);
            bool hasPrompt = root.TryGetProperty("prompt", out _) || root.TryGetProperty("completion", out _);
            if (hasMessages && hasPrompt) throw new DataException($"{where}: has both \"messages\" and \"prompt\"/\"completion\"; use one form per line");
            List<ChatMessage> messages;
            if (hasMessages) messages = Messages(messagesElement, where);
            else if (hasPrompt)
            {
                string prompt = StringField(root, "prompt", where), completion = StringField(root, "completion", where);
                if (string.IsNullOrWhiteSpace(prompt)) throw new DataException($"{where}: \"prompt\" is empty");
                if (string.IsNullOrWhiteSpace(completion)) throw new DataException($"{where}: \"completion\" is empty");
                messages = [new ChatMessage(ChatMessage.User, prompt), new ChatMessage(ChatMessage.Assistant, completion)];
            }
            else throw new DataException($"{where}: expected a JSON object with \"messages\", or \"prompt\" and \"completion\"");
            if (systemPrompt is not null && messages[0].Role != ChatMessage.System) messages.Insert(0, new ChatMessage(ChatMessage.System, systemPrompt));
            return new SftExample(messages, where);
        }
    }

    private static List<ChatMessage> Messages(JsonElement array, string where)
    {
        if (array.ValueKind != JsonValueKind.Array) throw new DataException($"{where}: \"messages\" must be a list of {{\"role\", \"content\"}} objects");
        var messages = new List<ChatMessage>();
        int i = 0;
        foreach (var m in array.EnumerateArray())
        {
            string at = $"{where}: message {i++}";
            if (m.ValueKind != JsonValueKind.Object) throw new DataException($"{at} is not an object with \"role\" and \"content\"");
            string role = StringField(m, "role", at), content = StringField(m, "content", at);
            if (!ChatMessage.Roles.Contains(role)) throw new DataException($"{at} has role '{role}'; roles are system, user and assistant");
            if (role == ChatMessage.Assistant && string.IsNullOrWhiteSpace(content)) throw new DataException($"{at} is an empty assistant message");
            messages.Add(new ChatMessage(role, content));
        }
        if (messages.Count == 0) throw new DataException($"{where}: \"messages\" is empty");
        if (!messages.Any(m => m.Role == ChatMessage.Assistant)) throw new DataException($"{where}: the conversation has no assistant message to learn from");
        return messages;
    }

    private static string StringField(JsonElement obj, string name, string where)
    {
        if (!obj.TryGetProperty(name, out var v)) throw new DataException($"{where}: missing field \"{name}\"");
        if (v.ValueKind != JsonValueKind.String) throw new DataException($"{where}: field \"{name}\" must be a string");
        return v.GetString()!;
    }
}
