using System.Numerics;
using System.Text.RegularExpressions;

namespace SharpSeek.Data.Tasks;

/// <summary>
/// Countdown (the TinyZero / R1-Zero replication task): reach a target from given numbers with + − × ÷ and parentheses,
/// each number used at most once. Levels: 1 = 3 numbers in 1..9, 2 = 4 numbers in 1..25, 3 = 5 numbers in 1..50.
/// A task is built by combining a random subset of the numbers step by step (intermediate results positive whole numbers),
/// so a solution exists. Prompt <c>Using the numbers 3, 7, 25, 2, make 77. …</c>; the completion lists the steps and ends
/// with <c>#### 25 * 3 + 2</c>. Any expression that <see cref="CountdownChecker"/> accepts scores 1, not just the stored one.
/// </summary>
public sealed class CountdownGenerator : ITaskGenerator
{
    public string Name => "countdown";
    public int Levels => 3;

    private static readonly Regex PromptPattern = new(@"Using the numbers ([\d, ]+), make (\d+)\.", RegexOptions.CultureInvariant);

    public TaskExample Generate(SplitMix64 rng, int level)
    {
        TaskGenerators.CheckLevel(this, level);
        int n = level + 2;
        long max = level switch { 1 => 9, 2 => 25, _ => 50 };
        while (true)
        {
            var numbers = new long[n];
            for (int i = 0; i < n; i++) numbers[i] = TaskGenerators.Range(rng, 1, max);
            var order = Enumerable.Range(0, n).ToArray();
            for (int i = n - 1; i > 0; i--) { int j = (int)rng.NextLong(i + 1); (order[i], order[j]) = (order[j], order[i]); }
            int used = (int)TaskGenerators.Range(rng, 2, n);
            long value = numbers[order[0]];
            string expr = value.ToString();
            var steps = new List<string>();
            for (int k = 1; k < used; k++)
            {
                long y = numbers[order[k]];
                char op = "+-*/"[(int)rng.NextLong(4)];
                if (op == '-' && value <= y || op == '*' && value * y > 1000 || op == '/' && (y == 1 || value % y != 0)) op = '+';
                long next = op switch { '+' => value + y, '-' => value - y, '*' => value * y, _ => value / y };
                steps.Add($"{value} {op} {y} = {next}");
                expr = k == used - 1 ? $"{expr} {op} {y}" : $"({expr} {op} {y})";
                value = next;
            }
            if (value < 2 || value > 1000 || numbers.Contains(value)) continue;
            string answer = expr;                                          // the last step carries no parentheses
            return new($"Using the numbers {string.Join(", ", numbers)}, make {value}. Use each number at most once, with + - * / and parentheses.",
                answer, string.Join("\n", steps) + "\n" + TaskGenerators.FinalLine(answer));
        }
    }

    /// <summary>1 when the final answer of <paramref name="completion"/> is an expression that reaches the prompt's target from its numbers.</summary>
    public double Score(TaskExample example, string completion)
    {
        var m = PromptPattern.Match(example.Prompt);
        if (!m.Success) throw new DataException($"not a Countdown prompt: \"{example.Prompt}\"");
        var numbers = m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToList();
        string? answer = AnswerChecker.ExtractFinalAnswer(completion);
        return answer is not null && CountdownChecker.IsSolution(answer, numbers, long.Parse(m.Groups[2].Value)) ? 1.0 : 0.0;
    }
}

/// <summary>
/// Safe Countdown checking: a small recursive-descent parser for numbers, + − × ÷ (also * / and the Unicode signs) and
/// parentheses, evaluated in exact rationals. No code is executed; anything else in the text makes it invalid.
/// </summary>
public static class CountdownChecker
{
    private const int MaxLength = 200, MaxDepth = 20;

    /// <summary>True when <paramref name="expression"/> evaluates exactly to <paramref name="target"/> using each of <paramref name="numbers"/> at most once (and no other numbers).</summary>
    public static bool IsSolution(string expression, IReadOnlyList<long> numbers, long target)
    {
        var used = new List<long>();
        var value = Evaluate(expression, used);
        if (value is not { } v || v.Den != 1 || v.Num != target) return false;
        var left = numbers.GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        foreach (long u in used)
            if (!left.TryGetValue(u, out int c) || c == 0) return false;
            else left[u] = c - 1;
        return true;
    }

    /// <summary>The exact value of <paramref name="expression"/> as a reduced fraction (Den &gt; 0), the literals it uses appended to <paramref name="used"/>; null when it does not parse or divides by zero.</summary>
    public static (BigInteger Num, BigInteger Den)? Evaluate(string expression, List<long> used)
    {
        if (expression.Length > MaxLength) return null;
        var p = new Parser(expression, used);
        var v = p.Expr(0);
        p.SkipSpaces();
        return v is not null && p.AtEnd ? v : null;
    }

    private sealed class Parser(string text, List<long> used)
    {
        private int _pos;
        public bool AtEnd => _pos == text.Length;

        public void SkipSpaces() { while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++; }

        private char? Peek() { SkipSpaces(); return _pos < text.Length ? Op(text[_pos]) : null; }

        private static char Op(char c) => c switch { '\u00D7' or 'x' => '*', '\u00F7' => '/', '\u2212' => '-', _ => c };

        public (BigInteger Num, BigInteger Den)? Expr(int depth)
        {
            var left = Term(depth);
            while (left is not null && Peek() is '+' or '-')
            {
                char op = Op(text[_pos++]);
                var right = Term(depth);
                if (right is null) return null;
                left = Reduce(left.Value.Num * right.Value.Den + (op == '+' ? 1 : -1) * right.Value.Num * left.Value.Den, left.Value.Den * right.Value.Den);
            }
            return left;
        }

        private (BigInteger Num, BigInteger Den)? Term(int depth)
        {
            var left = Factor(depth);
            while (left is not null && Peek() is '*' or '/')
            {
                char op = Op(text[_pos++]);
                var right = Factor(depth);
                if (right is null) return null;
                if (op == '*') left = Reduce(left.Value.Num * right.Value.Num, left.Value.Den * right.Value.Den);
                else if (right.Value.Num.IsZero) return null;
                else left = Reduce(left.Value.Num * right.Value.Den, left.Value.Den * right.Value.Num);
            }
            return left;
        }

        private (BigInteger Num, BigInteger Den)? Factor(int depth)
        {
            if (depth > MaxDepth) return null;
            char? c = Peek();
            if (c == '(')
            {
                _pos++;
                var inner = Expr(depth + 1);
                if (inner is null || Peek() != ')') return null;
                _pos++;
                return inner;
            }
            int start = _pos;
            while (_pos < text.Length && char.IsAsciiDigit(text[_pos])) _pos++;
            if (_pos == start || _pos - start > 9) return null;
            long n = long.Parse(text.AsSpan(start, _pos - start));
            used.Add(n);
            return (n, BigInteger.One);
        }

        private static (BigInteger Num, BigInteger Den) Reduce(BigInteger num, BigInteger den)
        {
            if (den.Sign < 0) { num = -num; den = -den; }
            var g = BigInteger.GreatestCommonDivisor(num, den);
            return g.IsZero || g.IsOne ? (num, den) : (num / g, den / g);
        }
    }
}
