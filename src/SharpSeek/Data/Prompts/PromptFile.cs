using System.Text.Json;

namespace SharpSeek.Data.Prompts;

/// <summary>One prompt for RL: the user message and, when known, the expected answer (for rule-based rewards and accuracy).</summary>
public sealed record PromptExample(string Prompt, string? Answer)
{
    /// <summary>Line of the prompt file it came from (1-based; 0 when not read from a file).</summary>
    public int Line { get; init; }

    /// <summary>
    /// Name of the task generator the prompt came from (e.g. "countdown"), when its answers are checked by the task's own rule
    /// (<see cref="SharpSeek.Data.Tasks.ITaskGenerator.Score"/>) rather than by comparing with <see cref="Answer"/>; null otherwise.
    /// </summary>
    public string? Task { get; init; }
}

/// <summary>
/// Prompt files for PPO and GRPO: JSON Lines, one object per line, <c>{"prompt": "What is 47 + 38?", "answer": "85"}</c>
/// (answer optional; an optional <c>"task": "countdown"</c> names the generator whose rule checks the answer; blank lines
/// skipped). Errors name file and line.
/// </summary>
public static class PromptFile
{
    /// <summary>The prompts of <paramref name="path"/>; throws <see cref="DataException"/> naming file:line for a line that is not JSON, has no prompt or an empty one.</summary>
    public static IReadOnlyList<PromptExample> Read(string path)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: prompt file not found");
        var result = new List<PromptExample>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string where = $"{path}:{lineNo}";
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException) { throw new DataException($"{where}: not a JSON object"); }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new DataException($"{where}: not a JSON object");
                if (!root.TryGetProperty("prompt", out var p) || p.ValueKind != JsonValueKind.String)
                    throw new DataException($"{where}: missing \"prompt\" (a string)");
                string prompt = p.GetString()!;
                if (prompt.Trim().Length == 0) throw new DataException($"{where}: empty \"prompt\"");
                string? answer = null;
                if (root.TryGetProperty("answer", out var a) && a.ValueKind != JsonValueKind.Null)
                    answer = a.ValueKind switch
                    {
                        JsonValueKind.String => a.GetString(),
                        JsonValueKind.Number => a.GetRawText(),
                        _ => throw new DataException($"{where}: \"answer\" must be a string or a number"),
                    };
                string? task = null;
                if (root.TryGetProperty("task", out var t) && t.ValueKind != JsonValueKind.Null)
                {
                    if (t.ValueKind != JsonValueKind.String) throw new DataException($"{where}: \"task\" must be a string");
                    task = t.GetString()!;
                    if (!SharpSeek.Data.Tasks.TaskGenerators.All.Any(g => g.Name == task))
                        throw new DataException($"{where}: unknown task '{task}' (known: {string.Join(", ", SharpSeek.Data.Tasks.TaskGenerators.All.Select(g => g.Name))})");
                }
                result.Add(new PromptExample(prompt, answer) { Line = lineNo, Task = task });
            }
        }
        if (result.Count == 0) throw new DataException($"{path}: no prompts");
        return result;
    }
}
