namespace SharpSeek.Data.Tasks;

/// <summary>
/// Linear equations with an integer solution. Levels: 1 = <c>x + b = c</c> (b in 1..9, x in 0..9),
/// 2 = <c>ax + b = c</c> (a in 2..9, b and x in −9..9), 3 = <c>ax + b = c</c> (a in ±2..12, b in ±10..99, x in −20..20),
/// 4 = <c>ax + b = cx + d</c> (x on both sides). Prompt <c>Solve for x: 3x - 4 = 11.</c>; the completion isolates x
/// step by step, then <c>#### 5</c>.
/// </summary>
public sealed class LinearEquationGenerator : ITaskGenerator
{
    public string Name => "linear";
    public int Levels => 4;

    public TaskExample Generate(SplitMix64 rng, int level)
    {
        TaskGenerators.CheckLevel(this, level);
        switch (level)
        {
            case 1:
            {
                long b = TaskGenerators.Range(rng, 1, 9), x = TaskGenerators.Range(rng, 0, 9);
                return Solve(1, b, 0, x + b, x);
            }
            case 2:
            {
                long a = TaskGenerators.Range(rng, 2, 9), b = TaskGenerators.Range(rng, -9, 9), x = TaskGenerators.Range(rng, -9, 9);
                return Solve(a, b, 0, a * x + b, x);
            }
            case 3:
            {
                long a = Signed(rng, 2, 12), b = Signed(rng, 10, 99), x = TaskGenerators.Range(rng, -20, 20);
                return Solve(a, b, 0, a * x + b, x);
            }
            default:
            {
                long a = Signed(rng, 2, 12), c, b = TaskGenerators.Range(rng, -30, 30), x = TaskGenerators.Range(rng, -12, 12);
                do c = Signed(rng, 1, 9); while (c == a);
                return Solve(a, b, c, (a - c) * x + b, x);   // ax + b = cx + d with d = (a − c)x + b
            }
        }
    }

    private static long Signed(SplitMix64 rng, long lo, long hi) =>
        (rng.NextLong(2) == 0 ? 1 : -1) * TaskGenerators.Range(rng, lo, hi);

    /// <summary>Task for ax + b = cx + d whose solution is <paramref name="x"/> (c = 0: no x on the right).</summary>
    internal static TaskExample Solve(long a, long b, long c, long d, long x)
    {
        string right = c == 0 ? d.ToString() : Side(c, d);
        var steps = new List<string>();
        long k = a;
        if (c != 0)
        {
            k = a - c;
            steps.Add($"{(c > 0 ? $"Subtract {Term(c)} from" : $"Add {Term(-c)} to")} both sides: {Side(k, b)} = {d}.");
        }
        long rhs = d - b;
        if (b != 0) steps.Add($"{(b > 0 ? $"Subtract {b} from" : $"Add {-b} to")} both sides: {Term(k)} = {rhs}.");
        if (k != 1) steps.Add($"Divide both sides by {k}: x = {rhs} / {k} = {x}.");
        steps.Add($"So x = {x}.");
        return new($"Solve for x: {Side(a, b)} = {right}.", x.ToString(),
            string.Join("\n", steps) + "\n" + TaskGenerators.FinalLine(x.ToString()));
    }

    /// <summary><c>3x</c>, <c>x</c>, <c>-x</c>, <c>-3x</c>.</summary>
    internal static string Term(long a) => a switch { 1 => "x", -1 => "-x", _ => $"{a}x" };

    /// <summary><c>3x + 4</c>, <c>3x - 4</c>, <c>3x</c>.</summary>
    internal static string Side(long a, long b) => b switch { 0 => Term(a), > 0 => $"{Term(a)} + {b}", _ => $"{Term(a)} - {-b}" };
}
