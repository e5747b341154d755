using SharpSeek.Checkpoints;
using System.Text;

namespace SharpSeek.Data.Tasks;

/// <summary>What a task's target completion holds: the generator's worked solution, or only the final line <c>#### answer</c>.</summary>
public enum CompletionStyle { Work, Answer }

/// <summary>
/// Task sets for the alignment pipeline: examples of several levels of one split (interleaved level by level, drawn by
/// <see cref="TaskSampler"/>, so a test prompt never reaches a train export), and their files: plain pretraining text
/// (<see cref="PlainPrompt"/> + completion, samples separated by a blank line, which <c>data prepare</c> keeps as text),
/// SFT JSONL (<see cref="SftJsonlWriter"/>) and prompt JSONL <c>{"prompt", "answer"}</c> for PPO and evaluation.
/// </summary>
public static class TaskExport
{
    /// <summary>Separates samples in a text export; completions never contain a blank line, so plain decoding stops on it.</summary>
    public const string SampleSeparator = "\n\n";

    /// <summary>Levels from "2,3" or "2-3"; each must be a level of <paramref name="generator"/>, none repeated.</summary>
    public static IReadOnlyList<int> ParseLevels(string text, ITaskGenerator generator)
    {
        var levels = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            string[] range = part.Split('-', StringSplitOptions.TrimEntries);
            if (range.Length is < 1 or > 2 || !range.All(r => int.TryParse(r, out _)))
                throw new ConfigException($"levels must be numbers like 2,3 or 2-3, not '{text}'");
            int lo = int.Parse(range[0]), hi = int.Parse(range[^1]);
            if (hi < lo) throw new ConfigException($"level range '{part}' runs backwards");
            for (int level = lo; level <= hi; level++)
            {
                TaskGenerators.CheckLevel(generator, level);
                if (levels.Contains(level)) throw new ConfigException($"level {level} is given twice in '{text}'");
                levels.Add(level);
            }
        }
        return levels;
    }

    /// <summary>
    /// <paramref name="count"/> examples of <paramref name="split"/>, shared as evenly as possible among <paramref name="levels"/>
    /// (earlier levels take the remainder) and interleaved level by level. Each level is drawn by <see cref="TaskSampler.Sample"/>
    /// from (<paramref name="seed"/>, level); with <paramref name="distinct"/> prompts do not repeat within a level.
    /// </summary>
    public static IReadOnlyList<TaskExample> Examples(ITaskGenerator generator, IReadOnlyList<int> levels, TaskSplit split, int count, ulong seed,
        bool distinct = false, CompletionStyle style = CompletionStyle.Work)
    {
        if (levels.Count == 0) throw new ConfigException("give at least one task level");
        if (count < 1) throw new ConfigException($"task count must be at least 1, not {count}");
        var perLevel = levels.Select((level, i) =>
            TaskSampler.Sample(generator, level, split, count / levels.Count + (i < count % levels.Count ? 1 : 0), seed, distinct)).ToList();
        var result = new List<TaskExample>(count);
        for (int j = 0; result.Count < count; j++)
            foreach (var examples in perLevel)
                if (j < examples.Count) result.Add(WithStyle(examples[j], style));
        return result;
    }

    /// <summary>The held-out set of evaluation: <paramref name="count"/> distinct test prompts over the levels, seed 0 (as <see cref="TaskSampler.TestSet"/>).</summary>
    public static IReadOnlyList<TaskExample> TestSet(ITaskGenerator generator, IReadOnlyList<int> levels, int count) =>
        Examples(generator, levels, TaskSplit.Test, count, seed: 0, distinct: true);

    /// <summary><paramref name="example"/> whose completion is the worked solution (as generated) or only its final <c>#### answer</c> line.</summary>
    public static TaskExample WithStyle(TaskExample example, CompletionStyle style) =>
        style == CompletionStyle.Work ? example : example with { Completion = TaskGenerators.FinalLine(example.Answer) };

    /// <summary>The prompt as plain text (no chat template): the question and a newline, after which the completion follows.</summary>
    public static string PlainPrompt(string prompt) => prompt + "\n";

    /// <summary>One pretraining sample: <see cref="PlainPrompt"/>, the completion, then <see cref="SampleSeparator"/>.</summary>
    public static string PlainText(TaskExample example) => PlainPrompt(example.Prompt) + example.Completion.TrimEnd('\n') + SampleSeparator;

    /// <summary>Writes the examples as plain pretraining text (atomically).</summary>
    public static void WriteText(string path, IEnumerable<TaskExample> examples)
    {
        var sb = new StringBuilder();
        foreach (var e in examples) sb.Append(PlainText(e));
        AtomicFiles.WriteText(path, sb.ToString());
    }

    /// <summary>
    /// Writes one <c>{"prompt": …, "answer": …}</c> line per example (atomically): PPO/GRPO prompts and evaluation sets; with
    /// <paramref name="task"/> (the generator's name) each line also carries <c>"task"</c>, so rewards check answers by that task's rule.
    /// </summary>
    public static void WritePrompts(string path, IEnumerable<TaskExample> examples, string? task = null) =>
        JsonLines.Write(path, examples, (w, e) =>
        {
            w.WriteString("prompt", e.Prompt);
            w.WriteString("answer", e.Answer);
            if (task is not null) w.WriteString("task", task);
        });
}
