using System.Text.Json;
using System.Text.Json.Serialization;
using SharpSeek.Data;

namespace SharpSeek.Evaluation.Suite;

/// <summary>One multiple-choice item: the context, the candidate continuations and the index of the right one.</summary>
public sealed record ChoiceItem
{
    [JsonPropertyName("context")] public required string Context { get; init; }
    [JsonPropertyName("choices")] public required IReadOnlyList<string> Choices { get; init; }
    [JsonPropertyName("label")] public required int Label { get; init; }
}

/// <summary>Multiple-choice items: read from JSONL (context, choices, label) or built as next-line cloze from held-out text.</summary>
public static class ChoiceItems
{
    /// <summary>The items of a JSONL file; throws <see cref="DataException"/> naming the first bad line.</summary>
    public static IReadOnlyList<ChoiceItem> ReadJsonl(string path)
    {
        if (!File.Exists(path)) throw new DataException($"multiple-choice file {path} does not exist");
        var items = new List<ChoiceItem>();
        int n = 0;
        foreach (var line in File.ReadLines(path))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            ChoiceItem? item;
            try { item = JsonSerializer.Deserialize<ChoiceItem>(line); }
            catch (JsonException e) { throw new DataException($"{path} line {n} is not a choice item (context, choices, label): {e.Message}"); }
            if (item is null || item.Choices.Count < 2 || item.Label < 0 || item.Label >= item.Choices.Count)
                throw new DataException($"{path} line {n} needs at least 2 choices and a label in range");
            items.Add(item);
        }
        return items;
    }

    /// <summary>
    /// Next-line cloze over <paramref name="text"/>'s non-empty lines (at least 20 characters each): the context is
    /// <paramref name="contextLines"/> consecutive lines, the right choice the line after them, the 3 distractors other lines
    /// of the text; the right choice's position is drawn from <paramref name="seed"/>. Deterministic for a given text and seed.
    /// </summary>
    public static IReadOnlyList<ChoiceItem> NextLineCloze(string text, int count, ulong seed, int contextLines = 2, int choices = 4)
    {
        var lines = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length >= 20).Distinct().ToList();
        if (lines.Count < contextLines + choices + 1)
            throw new DataException($"the text has {lines.Count} usable lines; next-line cloze needs at least {contextLines + choices + 1}");
        var rng = new SplitMix64(seed);
        var items = new List<ChoiceItem>(count);
        for (int i = 0; i < count; i++)
        {
            int start = (int)rng.NextLong(lines.Count - contextLines);
            string answer = lines[start + contextLines];
            var options = new List<string> { answer };
            while (options.Count < choices)
            {
                string d = lines[(int)rng.NextLong(lines.Count)];
                if (!options.Contains(d)) options.Add(d);
            }
            int label = (int)rng.NextLong(choices);
            (options[0], options[label]) = (options[label], options[0]);
            items.Add(new ChoiceItem { Context = string.Join("\n", lines.Skip(start).Take(contextLines)) + "\n", Choices = options, Label = label });
        }
        return items;
    }
}
