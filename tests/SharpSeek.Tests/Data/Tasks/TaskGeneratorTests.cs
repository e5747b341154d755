using System.Text.RegularExpressions;
using SharpSeek.Data;
using SharpSeek.Data.Tasks;

namespace SharpSeek.Tests.Data.Tasks;

public class TaskGeneratorTests
{
    [Fact]
    public void ArithmeticAdd_TwoDigitsWithCarry_MatchesHandWrittenColumns()
    {
        Assert.Equal("7 + 8 = 15, write 5, carry 1.\n4 + 3 + 1 = 8, write 8.\nSo 47 + 38 = 85.\n", ArithmeticGenerator.Add(47, 38));
        Assert.Equal("5 + 7 = 12, write 2, carry 1.\n9 + 1 + 1 = 11, write 1, carry 1.\nWrite the carry 1.\nSo 95 + 17 = 112.\n",
            ArithmeticGenerator.Add(95, 17));
    }

    [Fact]
    public void ArithmeticSubtract_Borrow_MatchesHandWrittenColumns()
    {
        Assert.Equal("2 < 8, borrow: 12 - 8 = 4.\n5 - 1 = 4, 4 - 3 = 1.\nSo 52 - 38 = 14.\n", ArithmeticGenerator.Subtract(52, 38));
    }

    [Fact]
    public void ArithmeticSubtract_NegativeResult_WorksTheSwappedDifference()
    {
        Assert.Equal("52 is larger than 38, so 38 - 52 = -(52 - 38).\n2 < 8, borrow: 12 - 8 = 4.\n5 - 1 = 4, 4 - 3 = 1.\n52 - 38 = 14, so 38 - 52 = -14.\n",
            ArithmeticGenerator.Subtract(38, 52));
        Assert.Equal("3 - 7 = -4.\n", ArithmeticGenerator.Subtract(3, 7));
    }

    [Fact]
    public void ArithmeticMultiply_PartialProducts_MatchHandComputedValues()
    {
        Assert.Equal("47 * 38 = 47 * 30 + 47 * 8 = 1410 + 376 = 1786.\n", ArithmeticGenerator.Multiply(47, 38));
        Assert.Equal("47 * 30 = 1410.\n", ArithmeticGenerator.Multiply(47, 30));
    }

    [Theory]
    [InlineData(1, 0, 9, "+-")]
    [InlineData(2, 10, 99, "+-")]
    [InlineData(3, 100, 999, "+-")]
    [InlineData(4, 10, 99, "*")]
    public void Arithmetic_Level_OperandsHaveTheLevelsDigitCountAndAnswerIsCorrect(int level, long lo, long hi, string ops)
    {
        var rng = new SplitMix64(7);
        var seenOps = new HashSet<char>();
        for (int i = 0; i < 300; i++)
        {
            var e = new ArithmeticGenerator().Generate(rng, level);
            var m = Regex.Match(e.Prompt, @"^What is (\d+) ([-+*]) (\d+)\?$");
            Assert.True(m.Success, e.Prompt);
            long a = long.Parse(m.Groups[1].Value), b = long.Parse(m.Groups[3].Value);
            char op = m.Groups[2].Value[0];
            Assert.InRange(a, lo, hi);
            Assert.InRange(b, lo, hi);
            seenOps.Add(op);
            long expected = op switch { '+' => a + b, '-' => a - b, _ => a * b };
            Assert.Equal(expected.ToString(), e.Answer);
            Assert.EndsWith($"\n#### {expected}", e.Completion);
            Assert.Equal(1.0, Reward.Correctness(e.Completion, e.Answer));
        }
        Assert.Equal(ops.ToHashSet(), seenOps);
    }

    [Fact]
    public void LetterCount_Strawberry_CountsThreeRsAtHandFoundPositions()
    {
        var e = LetterTaskGenerator.Count("strawberry", 'r');
        Assert.Equal("How many times does the letter \"r\" appear in \"strawberry\"?", e.Prompt);
        Assert.Equal("3", e.Answer);
        Assert.Equal("Spell it: s, t, r, a, w, b, e, r, r, y.\nThe letter r is at positions 3, 8, 9.\nThat is 3.\n#### 3", e.Completion);
    }

    [Fact]
    public void LetterCount_AbsentLetter_AnswersZero()
    {
        var e = LetterTaskGenerator.Count("apple", 'z');
        Assert.Equal("0", e.Answer);
        Assert.Contains("does not appear", e.Completion);
    }

    [Fact]
    public void LetterReverse_Hello_GivesOlleh()
    {
        var e = LetterTaskGenerator.Reverse("hello");
        Assert.Equal("olleh", e.Answer);
        Assert.Equal("Spell it: h, e, l, l, o.\nBackwards: o, l, l, e, h.\nTogether: olleh.\n#### olleh", e.Completion);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Letters_EveryLevel_AnswerMatchesTheWordInThePrompt(int level)
    {
        var rng = new SplitMix64(3);
        for (int i = 0; i < 200; i++)
        {
            var e = new LetterTaskGenerator().Generate(rng, level);
            if (level <= 2)
            {
                var m = Regex.Match(e.Prompt, "^How many times does the letter \"([a-z])\" appear in \"([a-z]+)\"\\?$");
                Assert.True(m.Success, e.Prompt);
                Assert.Equal(m.Groups[2].Value.Count(c => c == m.Groups[1].Value[0]).ToString(), e.Answer);
                if (level == 2) Assert.InRange(m.Groups[2].Value.Length, 6, 10);
            }
            else
            {
                var m = Regex.Match(e.Prompt, "^Write the word \"([a-z]+)\" backwards\\.$");
                Assert.True(m.Success, e.Prompt);
                Assert.Equal(new string(m.Groups[1].Value.Reverse().ToArray()), e.Answer);
            }
            Assert.Equal(1.0, Reward.Correctness(e.Completion, e.Answer));
        }
    }

    [Fact]
    public void LinearSolve_NegativeConstant_MatchesHandWrittenSteps()
    {
        var e = LinearEquationGenerator.Solve(3, -4, 0, 11, 5);
        Assert.Equal("Solve for x: 3x - 4 = 11.", e.Prompt);
        Assert.Equal("5", e.Answer);
        Assert.Equal("Add 4 to both sides: 3x = 15.\nDivide both sides by 3: x = 15 / 3 = 5.\nSo x = 5.\n#### 5", e.Completion);
    }

    [Fact]
    public void LinearSolve_XOnBothSides_MatchesHandWrittenSteps()
    {
        var e = LinearEquationGenerator.Solve(5, 2, 3, 12, 5);                     // 5x + 2 = 3x + 12 → 2x = 10 → x = 5
        Assert.Equal("Solve for x: 5x + 2 = 3x + 12.", e.Prompt);
        Assert.Equal("Subtract 3x from both sides: 2x + 2 = 12.\nSubtract 2 from both sides: 2x = 10.\nDivide both sides by 2: x = 10 / 2 = 5.\nSo x = 5.\n#### 5",
            e.Completion);
    }

    [Fact]
    public void LinearTerm_UnitAndNegativeCoefficients_WrittenWithoutOne()
    {
        Assert.Equal(["x", "-x", "-3x", "x + 2", "-x - 7", "4x"],
            new[] { LinearEquationGenerator.Term(1), LinearEquationGenerator.Term(-1), LinearEquationGenerator.Term(-3),
                LinearEquationGenerator.Side(1, 2), LinearEquationGenerator.Side(-1, -7), LinearEquationGenerator.Side(4, 0) });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Linear_EveryLevel_AnswerSolvesThePromptsEquation(int level)
    {
        var rng = new SplitMix64(11);
        for (int i = 0; i < 300; i++)
        {
            var e = new LinearEquationGenerator().Generate(rng, level);
            var m = Regex.Match(e.Prompt, @"^Solve for x: (.+) = (.+)\.$");
            Assert.True(m.Success, e.Prompt);
            long x = long.Parse(e.Answer);
            Assert.Equal(Evaluate(m.Groups[1].Value, x), Evaluate(m.Groups[2].Value, x));
            Assert.Equal(level == 4, m.Groups[2].Value.Contains('x'));
            Assert.Equal(1.0, Reward.Correctness(e.Completion, e.Answer));
        }
    }

    /// <summary>Value of "ax + b", "ax - b", "ax", "-x", or a constant at x.</summary>
    private static long Evaluate(string side, long x)
    {
        var m = Regex.Match(side, @"^(?:(-?\d*)x)?(?:(?:^| )([-+]) ?(\d+)|^(-?\d+))?$");
        Assert.True(m.Success, side);
        long total = 0;
        if (side.Contains('x'))
        {
            string a = m.Groups[1].Value;
            total += (a switch { "" => 1, "-" => -1, _ => long.Parse(a) }) * x;
        }
        if (m.Groups[3].Success) total += (m.Groups[2].Value == "-" ? -1 : 1) * long.Parse(m.Groups[3].Value);
        if (m.Groups[4].Success) total += long.Parse(m.Groups[4].Value);
        return total;
    }

    [Fact]
    public void Generate_SameSeed_SameExamples()
    {
        foreach (var g in TaskGenerators.All)
        {
            var a = TaskSampler.Sample(g, g.Levels, TaskSplit.Train, 20, seed: 5);
            var b = TaskSampler.Sample(g, g.Levels, TaskSplit.Train, 20, seed: 5);
            var c = TaskSampler.Sample(g, g.Levels, TaskSplit.Train, 20, seed: 6);
            Assert.Equal(a, b);
            Assert.NotEqual(a, c);
        }
    }

    [Fact]
    public void Generate_LevelOutOfRange_ThrowsConfigException()
    {
        var e = Assert.Throws<ConfigException>(() => new ArithmeticGenerator().Generate(new SplitMix64(1), 0));
        Assert.Contains("levels 1 to 5", e.Message);
        Assert.Throws<ConfigException>(() => new LinearEquationGenerator().Generate(new SplitMix64(1), 5));
    }

    [Fact]
    public void ByName_KnownAndUnknown_ReturnsGeneratorOrThrows()
    {
        Assert.IsType<LetterTaskGenerator>(TaskGenerators.ByName("letters"));
        var e = Assert.Throws<ConfigException>(() => TaskGenerators.ByName("sudoku"));
        Assert.Contains("arithmetic, letters, linear, countdown", e.Message);
    }
}
