using System.Text;

namespace SharpSeek.Data.Tasks;

public enum TaskSplit { Train, Test }

/// <summary>
/// Fixed held-out splits for generated tasks: a stable 64-bit hash (FNV-1a, then the SplitMix64 finaliser) of the
/// normalised prompt puts a prompt in <see cref="TaskSplit.Test"/> or <see cref="TaskSplit.Train"/>. The decision depends on
/// the prompt text alone — not on the seed, the generator state or the process — so a test prompt is never trained on.
/// </summary>
public static class TaskSplits
{
    /// <summary>Share of all prompts that belong to the test split by default.</summary>
    public const double DefaultTestFraction = 0.1;

    /// <summary>Trimmed, lower-case (invariant), runs of whitespace collapsed to one space.</summary>
    public static string NormalizePrompt(string prompt) =>
        string.Join(' ', prompt.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    /// <summary>FNV-1a over the UTF-8 bytes of the normalised prompt, mixed by the SplitMix64 finaliser.</summary>
    public static ulong PromptHash(string prompt)
    {
        ulong h = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(NormalizePrompt(prompt))) { h ^= b; h *= 1099511628211UL; }
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        return h ^ (h >> 31);
    }

    /// <summary>The split of <paramref name="prompt"/>: Test when the hash falls in the lowest <paramref name="testFraction"/> of the range.</summary>
    public static TaskSplit Of(string prompt, double testFraction = DefaultTestFraction)
    {
        if (testFraction is < 0 or > 1 || double.IsNaN(testFraction)) throw new ConfigException($"test fraction must be between 0 and 1, not {testFraction}");
        return (PromptHash(prompt) >> 11) * (1.0 / (1UL << 53)) < testFraction ? TaskSplit.Test : TaskSplit.Train;
    }
}

/// <summary>Draws tasks of one split from a generator, deterministically from a seed.</summary>
public static class TaskSampler
{
    /// <summary>
    /// <paramref name="count"/> tasks of <paramref name="level"/> whose prompts fall in <paramref name="split"/>, drawn from a
    /// generator seeded by (<paramref name="seed"/>, generator name, level). Prompts of the other split are skipped.
    /// With <paramref name="distinct"/> each prompt appears once (use it for test sets). Throws <see cref="DataException"/>
    /// when the split holds too few prompts to fill the request.
    /// </summary>
    public static IReadOnlyList<TaskExample> Sample(ITaskGenerator generator, int level, TaskSplit split, int count, ulong seed,
        bool distinct = false, double testFraction = TaskSplits.DefaultTestFraction)
    {
        TaskGenerators.CheckLevel(generator, level);
        if (count < 0) throw new ConfigException($"task count must be zero or more, not {count}");
        var rng = new SplitMix64(seed ^ TaskSplits.PromptHash($"{generator.Name}/{level}"));
        var result = new List<TaskExample>(count);
        var seen = new HashSet<string>();
        long maxDraws = 100L * count + 10_000;
        for (long draws = 0; result.Count < count; draws++)
        {
            if (draws >= maxDraws)
                throw new DataException($"task '{generator.Name}' level {level} gave only {result.Count} of {count} {(distinct ? "distinct " : "")}{split.ToString().ToLowerInvariant()} prompts in {maxDraws} draws; ask for fewer or use a higher level");
            var example = generator.Generate(rng, level);
            if (TaskSplits.Of(example.Prompt, testFraction) != split) continue;
            if (distinct && !seen.Add(TaskSplits.NormalizePrompt(example.Prompt))) continue;
            result.Add(example);
        }
        return result;
    }

    /// <summary>The fixed held-out set: the first <paramref name="count"/> distinct test prompts from seed 0.</summary>
    public static IReadOnlyList<TaskExample> TestSet(ITaskGenerator generator, int level, int count, double testFraction = TaskSplits.DefaultTestFraction) =>
        Sample(generator, level, TaskSplit.Test, count, seed: 0, distinct: true, testFraction);
}
