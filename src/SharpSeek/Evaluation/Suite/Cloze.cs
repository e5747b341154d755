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
    /// Next-segment cloze over <paramref name="text"/>: the text is cut into segments (<see cref="Segments"/>); the context is
    /// <paramref name="contextSegments"/> consecutive segments, the right choice the segment after them, the distractors other
    /// segments of the text; the right choice's position is drawn from <paramref name="seed"/>. Deterministic for a given
    /// text and seed.
    /// </summary>
    public static IReadOnlyList<ChoiceItem> NextLineCloze(string text, int count, ulong seed, int contextSegments = 2, int choices = 4, int maxChars = 60)
    {
        var segments = Segments(text, maxChars);
        int distinct = segments.Distinct().Count();
        if (segments.Count < contextSegments + 1 || distinct < choices + 1)
            throw new DataException($"the text has {segments.Count} usable segments; next-line cloze needs at least {contextSegments + choices + 1}");
        var rng = new SplitMix64(seed);
        var items = new List<ChoiceItem>(count);
        for (int i = 0; i < count; i++)
        {
            int start = (int)rng.NextLong(segments.Count - contextSegments);
            string answer = segments[start + contextSegments];
            var options = new List<string> { answer };
            while (options.Count < choices)
            {
                string d = segments[(int)rng.NextLong(segments.Count)];
                if (!options.Contains(d)) options.Add(d);
            }
            int label = (int)rng.NextLong(choices);
            (options[0], options[label]) = (options[label], options[0]);
            items.Add(new ChoiceItem { Context = string.Join("\n", segments.Skip(start).Take(contextSegments)) + "\n", Choices = options, Label = label });
        }
        return items;
    }

    /// <summary>
    /// The text's lines, trimmed, with lines of fewer than 12 characters dropped and longer ones than
    /// <paramref name="maxChars"/> cut at word boundaries into pieces of at most that length (a single longer word is cut).
    /// </summary>
    public static IReadOnlyList<string> Segments(string text, int maxChars = 60)
    {
        var result = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            string line = raw.Trim();
            while (line.Length > maxChars)
            {
                int cut = line.LastIndexOf(' ', maxChars);
                if (cut <= 0) cut = maxChars;
                result.Add(line[..cut].TrimEnd());
                line = line[cut..].TrimStart();
            }
            if (line.Length >= 12) result.Add(line);
        }
        return result;
    }
}
