using System.Numerics;
using System.Text.RegularExpressions;
using SharpSeek.Data;
using SharpSeek.Data.Tasks;

namespace SharpSeek.Tests.Data.Tasks;

public class CountdownTests
{
    [Theory]
    [InlineData("25 * 3 + 2", 77, 1)]
    [InlineData("(1 + 2) * 3", 9, 1)]
    [InlineData("2 + 3 * 4", 14, 1)]                                            // precedence
    [InlineData("12 - 4 - 3", 5, 1)]                                            // left associative
    [InlineData("7 / 2", 7, 2)]
    [InlineData("(7 / 2) * 4", 14, 1)]                                          // exact rationals
    [InlineData("6 \u00D7 (9 \u2212 2) \u00F7 3", 14, 1)]                       // Unicode × − ÷
    public void Evaluate_ValidExpression_MatchesHandComputedFraction(string expression, long num, long den)
    {
        Assert.Equal((new BigInteger(num), new BigInteger(den)), CountdownChecker.Evaluate(expression, []));
    }

    [Theory]
    [InlineData("8 / (3 - 3)")]                                                 // division by zero
    [InlineData("2 +")]
    [InlineData("((2)")]
    [InlineData("2 + 3)")]
    [InlineData("-3 + 10")]                                                     // no unary minus
    [InlineData("2 + import os")]
    [InlineData("2 ** 3")]
    [InlineData("1.5 * 2")]
    [InlineData("")]
    public void Evaluate_InvalidExpression_ReturnsNull(string expression)
    {
        Assert.Null(CountdownChecker.Evaluate(expression, []));
    }

    [Fact]
    public void Evaluate_DeepNesting_ReturnsNullInsteadOfRecursingForever()
    {
        Assert.Null(CountdownChecker.Evaluate(new string('(', 50) + "1" + new string(')', 50), []));
    }

    [Fact]
    public void IsSolution_NumberUses_ChecksTheMultiset()
    {
        long[] numbers = [3, 7, 25, 2];
        Assert.True(CountdownChecker.IsSolution("25 * 3 + 2", numbers, 77));
        Assert.False(CountdownChecker.IsSolution("25 * 3 + 2", numbers, 78));     // wrong value
        Assert.False(CountdownChecker.IsSolution("25 * 3 + 1 + 1", numbers, 77)); // 1 not given
        Assert.False(CountdownChecker.IsSolution("7 * 7 + 25 + 3", numbers, 77)); // 7 used twice
        Assert.True(CountdownChecker.IsSolution("7 * 7 + 25 + 3", [7, 7, 25, 3], 77));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Generate_EveryLevel_StoredAnswerSolvesThePrompt(int level)
    {
        ITaskGenerator g = new CountdownGenerator();
        var rng = new SplitMix64(17);
        for (int i = 0; i < 200; i++)
        {
            var e = g.Generate(rng, level);
            var m = Regex.Match(e.Prompt, @"^Using the numbers ([\d, ]+), make (\d+)\.");
            Assert.True(m.Success, e.Prompt);
            Assert.Equal(level + 2, m.Groups[1].Value.Split(", ").Length);
            Assert.Equal(1.0, g.Score(e, e.Completion));
            Assert.Equal(0.0, g.Score(e, "#### " + e.Answer + " + 1"));
        }
    }

    [Fact]
    public void Score_DifferentCorrectExpression_ScoresOne()
    {
        ITaskGenerator g = new CountdownGenerator();
        var e = new TaskExample("Using the numbers 3, 7, 25, 2, make 77. Use each number at most once, with + - * / and parentheses.", "25 * 3 + 2", "");
        Assert.Equal(1.0, g.Score(e, "<think>...</think>\n#### 2 + 3 * 25"));
        Assert.Equal(0.0, g.Score(e, "#### 77"));                                // the target itself is not an answer
        Assert.Equal(0.0, g.Score(e, "no answer"));
    }

    [Fact]
    public void Score_DefaultGenerator_IsCorrectnessAgainstTheAnswer()
    {
        ITaskGenerator g = new ArithmeticGenerator();
        var e = new TaskExample("What is 2 + 3?", "5", "2 + 3 = 5.\n#### 5");
        Assert.Equal(1.0, g.Score(e, "#### 5"));
        Assert.Equal(0.0, g.Score(e, "#### 6"));
    }
}
