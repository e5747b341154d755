using System.Text.Json;

namespace SharpSeek.Data.Tasks;

/// <summary>
/// Writes tasks as SFT JSONL, one object per line, atomically (temp file and rename, see <see cref="JsonLines"/>):
/// <c>{"prompt": …, "completion": …}</c> or the chat form <c>{"messages": [{"role": "user", …}, {"role": "assistant", …}]}</c>
/// (optionally with a system turn first). Every example is checked before anything is written.
/// </summary>
public static class SftJsonlWriter
{
    /// <summary>One <c>{"prompt", "completion"}</c> line per example.</summary>
    public static void WritePromptCompletion(string path, IEnumerable<TaskExample> examples)
    {
        JsonLines.Write(path, Checked(examples), (w, e) =>
        {
            w.WriteString("prompt", e.Prompt);
            w.WriteString("completion", e.Completion);
        });
    }

    /// <summary>One <c>{"messages": [...]}</c> line per example: an optional system turn, the user prompt, the assistant completion.</summary>
    public static void WriteMessages(string path, IEnumerable<TaskExample> examples, string? systemPrompt = null)
    {
        JsonLines.Write(path, Checked(examples), (w, e) =>
        {
            w.WriteStartArray("messages");
            if (systemPrompt is not null) Message(w, "system", systemPrompt);
            Message(w, "user", e.Prompt);
            Message(w, "assistant", e.Completion);
            w.WriteEndArray();
        });
    }

    private static List<TaskExample> Checked(IEnumerable<TaskExample> examples)
    {
        var list = examples.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(list[i].Prompt)) throw new DataException($"SFT example {i} has an empty prompt");
            if (string.IsNullOrWhiteSpace(list[i].Completion)) throw new DataException($"SFT example {i} has an empty completion");
        }
        return list;
    }

    private static void Message(Utf8JsonWriter w, string role, string content)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", content);
        w.WriteEndObject();
    }
}
