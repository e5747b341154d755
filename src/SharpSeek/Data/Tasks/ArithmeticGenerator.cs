using System.Text;

namespace SharpSeek.Data.Tasks;

/// <summary>
/// Multi-digit arithmetic as text, the verifiable task of DeepSeek-R1-style curricula. Levels: 1 = 1-digit + or −,
/// 2 = 2-digit + or −, 3 = 3-digit + or −, 4 = 2-digit × 2-digit, 5 = 3-digit × 2-digit. Prompt <c>What is 47 + 38?</c>;
/// the completion works column by column (with carries and borrows) or by partial products, then <c>#### 85</c>.
/// Subtraction may go below zero (answer <c>-4</c>).
/// </summary>
public sealed class ArithmeticGenerator : ITaskGenerator
{
    public string Name => "arithmetic";
    public int Levels => 5;

    public TaskExample Generate(SplitMix64 rng, int level)
    {
        TaskGenerators.CheckLevel(this, level);
        if (level >= 4)
        {
            long x = TaskGenerators.WithDigits(rng, level == 4 ? 2 : 3), y = TaskGenerators.WithDigits(rng, 2);
            return Make(x, '*', y, Multiply(x, y), x * y);
        }
        long a = TaskGenerators.WithDigits(rng, level), b = TaskGenerators.WithDigits(rng, level);
        return rng.NextLong(2) == 0 ? Make(a, '+', b, Add(a, b), a + b) : Make(a, '-', b, Subtract(a, b), a - b);
    }

    private static TaskExample Make(long a, char op, long b, string work, long result) =>
        new($"What is {a} {op} {b}?", result.ToString(), work + TaskGenerators.FinalLine(result.ToString()));

    /// <summary>Column addition, right to left: <c>7 + 8 = 15, write 5, carry 1.</c> per column.</summary>
    internal static string Add(long a, long b)
    {
        var sb = new StringBuilder();
        if (a < 10 && b < 10) return $"{a} + {b} = {a + b}.\n";
        long carry = 0;
        for (long x = a, y = b; x > 0 || y > 0; x /= 10, y /= 10)
        {
            long da = x % 10, db = y % 10, s = da + db + carry;
            sb.Append(carry > 0 ? $"{da} + {db} + {carry} = {s}" : $"{da} + {db} = {s}");
            sb.Append(s >= 10 ? $", write {s % 10}, carry 1.\n" : $", write {s}.\n");
            carry = s / 10;
        }
        if (carry > 0) sb.Append("Write the carry 1.\n");
        sb.Append($"So {a} + {b} = {a + b}.\n");
        return sb.ToString();
    }

    /// <summary>Column subtraction with borrows; a negative result is worked as −(b − a).</summary>
    internal static string Subtract(long a, long b)
    {
        if (a < 10 && b < 10) return $"{a} - {b} = {a - b}.\n";
        var sb = new StringBuilder();
        long top = a, bottom = b;
        if (a < b)
        {
            sb.Append($"{b} is larger than {a}, so {a} - {b} = -({b} - {a}).\n");
            (top, bottom) = (b, a);
        }
        long borrow = 0;
        for (long x = top, y = bottom; x > 0 || y > 0; x /= 10, y /= 10)
        {
            long dx = x % 10, dy = y % 10, t = dx - borrow;
            if (borrow > 0) sb.Append($"{dx} - 1 = {t}, ");
            if (t < dy)
            {
                sb.Append($"{t} < {dy}, borrow: {t + 10} - {dy} = {t + 10 - dy}.\n");
                borrow = 1;
            }
            else
            {
                sb.Append($"{t} - {dy} = {t - dy}.\n");
                borrow = 0;
            }
        }
        if (a < b) sb.Append($"{b} - {a} = {b - a}, so ");
        else sb.Append("So ");
        sb.Append($"{a} - {b} = {a - b}.\n");
        return sb.ToString();
    }

    /// <summary>Partial products by the place values of <paramref name="b"/>: <c>47 * 38 = 47 * 30 + 47 * 8 = 1410 + 376 = 1786.</c></summary>
    internal static string Multiply(long a, long b)
    {
        var parts = new List<long>();
        for (long p = 1, y = b; y > 0; y /= 10, p *= 10)
            if (y % 10 != 0) parts.Add(y % 10 * p);
        parts.Reverse();                                                   // largest place first
        if (parts.Count <= 1) return $"{a} * {b} = {a * b}.\n";
        string terms = string.Join(" + ", parts.Select(p => $"{a} * {p}"));
        string products = string.Join(" + ", parts.Select(p => (a * p).ToString()));
        return $"{a} * {b} = {terms} = {products} = {a * b}.\n";
    }
}
