namespace SharpSeek.Data.Tasks;

/// <summary>
/// A family of verifiable tasks with difficulty levels 1..<see cref="Levels"/>. <see cref="Generate"/> is a pure function of
/// the generator state, so a seed fixes the whole stream (see <see cref="TaskSampler"/>). Prompts are one line of plain
/// English (e.g. <c>What is 47 + 38?</c>); completions end with the line <c>#### &lt;answer&gt;</c>.
/// </summary>
public interface ITaskGenerator
{
    /// <summary>Short stable name used in configs and in the split hash ("arithmetic", "letters", "linear", "countdown").</summary>
    string Name { get; }

    /// <summary>Number of difficulty levels; valid levels are 1..Levels.</summary>
    int Levels { get; }

    /// <summary>Draws one task of <paramref name="level"/> from <paramref name="rng"/>.</summary>
    TaskExample Generate(SplitMix64 rng, int level);

    /// <summary>
    /// The rule-based accuracy reward of <paramref name="completion"/> for <paramref name="example"/>, 1 or 0. By default the
    /// final answer must equal <see cref="TaskExample.Answer"/> (<see cref="Reward.Correctness"/>); tasks with many right
    /// answers (Countdown) check the answer itself.
    /// </summary>
    double Score(TaskExample example, string completion) => Reward.Correctness(completion, example.Answer);
}

/// <summary>The built-in generators by name.</summary>
public static class TaskGenerators
{
    public static IReadOnlyList<ITaskGenerator> All { get; } = [new ArithmeticGenerator(), new LetterTaskGenerator(), new LinearEquationGenerator(), new CountdownGenerator()];

    /// <summary>The generator called <paramref name="name"/>; throws <see cref="ConfigException"/> for an unknown name.</summary>
    public static ITaskGenerator ByName(string name) =>
        All.FirstOrDefault(g => g.Name == name)
        ?? throw new ConfigException($"unknown task '{name}': give one of {string.Join(", ", All.Select(g => g.Name))}");

    /// <summary>Throws <see cref="ConfigException"/> unless 1 ≤ <paramref name="level"/> ≤ <paramref name="generator"/>.Levels.</summary>
    public static void CheckLevel(ITaskGenerator generator, int level)
    {
        if (level < 1 || level > generator.Levels)
            throw new ConfigException($"task '{generator.Name}' has levels 1 to {generator.Levels}, not {level}");
    }

    /// <summary>Uniform integer in [<paramref name="lo"/>, <paramref name="hi"/>].</summary>
    internal static long Range(SplitMix64 rng, long lo, long hi) => lo + rng.NextLong(hi - lo + 1);

    /// <summary>Uniform integer with exactly <paramref name="digits"/> digits (0..9 for one digit).</summary>
    internal static long WithDigits(SplitMix64 rng, int digits) =>
        digits == 1 ? Range(rng, 0, 9) : Range(rng, Pow10(digits - 1), Pow10(digits) - 1);

    internal static long Pow10(int n) { long p = 1; for (int i = 0; i < n; i++) p *= 10; return p; }

    /// <summary>The completion's closing line.</summary>
    internal static string FinalLine(string answer) => $"#### {answer}";
}
