using SharpSeek.Data;
using SharpSeek.Data.Tasks;

namespace SharpSeek.Evaluation.Suite;

/// <summary>
/// Algorithmic probes with exact checkers: copy, reverse and sort a sequence, say whether brackets balance, count a
/// symbol. Level L uses sequences of <see cref="Length"/>(L) symbols. Prompts are one line; the completion is the line
/// <c>#### answer</c>, scored by the default rule (<see cref="Reward.Correctness"/>: the normalised answer after ####).
/// </summary>
public sealed class ProbeGenerator : ITaskGenerator
{
    public const string Copy = "copy", Reverse = "reverse", Sort = "sort", Brackets = "brackets", Count = "count";
    public static readonly IReadOnlyList<string> Names = [Copy, Reverse, Sort, Brackets, Count];

    private readonly string _probe;

    public ProbeGenerator(string probe)
    {
        if (!Names.Contains(probe)) throw new ConfigException($"unknown probe '{probe}': give one of {string.Join(", ", Names)}");
        _probe = probe;
    }

    public string Name => "probe-" + _probe;
    public int Levels => 3;

    /// <summary>Sequence length at <paramref name="level"/>: 3, 5, 8 symbols.</summary>
    public static int Length(int level) => level switch { 1 => 3, 2 => 5, _ => 8 };

    public TaskExample Generate(SplitMix64 rng, int level)
    {
        TaskGenerators.CheckLevel(this, level);
        int n = Length(level);
        var (prompt, answer) = _probe switch
        {
            Copy => Letters(rng, n) is var s ? ($"Copy the letters: {s}", s) : default,
            Reverse => Letters(rng, n) is var r ? ($"Reverse the letters: {r}", new string(r.Reverse().ToArray())) : default,
            Sort => Digits(rng, n) is var d ? ($"Sort the digits: {string.Join(' ', d)}", string.Join(' ', d.Order())) : default,
            Brackets => BracketString(rng, 2 * n) is var b ? ($"Are the brackets balanced: {b}", Balanced(b) ? "yes" : "no") : default,
            _ => CountPrompt(rng, n),
        };
        return new TaskExample(prompt, answer, $"#### {answer}");
    }

    /// <summary>True when every ')' closes an earlier '(' and none stays open.</summary>
    public static bool Balanced(string brackets)
    {
        int depth = 0;
        foreach (char c in brackets)
        {
            depth += c == '(' ? 1 : c == ')' ? -1 : 0;
            if (depth < 0) return false;
        }
        return depth == 0;
    }

    private static string Letters(SplitMix64 rng, int n) => new(Enumerable.Range(0, n).Select(_ => (char)('a' + rng.NextLong(26))).ToArray());

    private static int[] Digits(SplitMix64 rng, int n) => Enumerable.Range(0, n).Select(_ => (int)rng.NextLong(10)).ToArray();

    /// <summary>Half the time a balanced string (a random walk kept ≥ 0 and closed), else one bracket of it flipped.</summary>
    private static string BracketString(SplitMix64 rng, int length)
    {
        var chars = new char[length];
        int depth = 0;
        for (int i = 0; i < length; i++)
        {
            int left = length - i;
            bool open = depth == 0 || (depth < left && rng.NextLong(2) == 0);
            chars[i] = open ? '(' : ')';
            depth += open ? 1 : -1;
        }
        if (rng.NextLong(2) == 0)
        {
            int k = (int)rng.NextLong(length);
            chars[k] = chars[k] == '(' ? ')' : '(';                                    // changes the depth sum by ±2: unbalanced
        }
        return new string(chars);
    }

    private static (string, string) CountPrompt(SplitMix64 rng, int n)
    {
        var s = new string(Enumerable.Range(0, n + 2).Select(_ => (char)('a' + rng.NextLong(3))).ToArray());   // 3 letters: counts vary
        char target = (char)('a' + rng.NextLong(3));
        return ($"How many times does {target} appear in: {s}", s.Count(c => c == target).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }
}
