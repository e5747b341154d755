using SharpSeek.Data.Tasks;

namespace SharpSeek.Tests.Data.Tasks;

public class AnswerCheckerTests
{
    [Theory]
    [InlineData("48/2 = 24 clips in May.\n#### 72", "72")]
    [InlineData("#### 5\nWait, let me redo that.\n#### 7", "7")]                 // two markers → the last
    [InlineData("#### -5", "-5")]
    [InlineData("#### \u22125", "-5")]                                           // Unicode minus
    [InlineData("####   1,234  ", "1234")]
    [InlineData("#### 1,234.", "1234")]                                         // trailing period
    [InlineData("#### +3.0", "3")]
    [InlineData("#### $18", "18")]
    [InlineData("####72\nmore text", "72")]                                     // only the marker's own line
    [InlineData("The answer is \\boxed{42}.", "42")]
    [InlineData("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}")]                         // balanced braces
    [InlineData("#### 3\nso really \\boxed{4}", "4")]                           // boxed after the marker wins
    [InlineData("\\boxed{4}\n#### 3", "3")]                                     // marker after boxed wins
    [InlineData("<think>2+2</think><answer> 4 </answer>", "4")]
    [InlineData("<answer>#### 12</answer>", "12")]                              // marker inside the answer tag
    [InlineData("#### 9\n<answer>\\boxed{10}</answer>", "10")]
    [InlineData("#### olleh", "olleh")]
    [InlineData("#### 72 clips", "72 clips")]                                   // not a bare number: kept as text
    public void ExtractFinalAnswer_Marked_ReturnsNormalisedLastAnswer(string text, string expected)
    {
        Assert.Equal(expected, AnswerChecker.ExtractFinalAnswer(text));
    }

    [Theory]
    [InlineData("The answer is 72.")]                                           // no marker
    [InlineData("")]
    [InlineData("#### \n")]                                                     // empty marker
    [InlineData("####")]
    [InlineData("\\boxed{42")]                                                  // unbalanced box
    [InlineData("<answer>12")]                                                  // unclosed tag
    [InlineData("<answer> </answer>")]
    public void ExtractFinalAnswer_NoUsableMarker_ReturnsNull(string text)
    {
        Assert.Null(AnswerChecker.ExtractFinalAnswer(text));
    }

    [Theory]
    [InlineData("007", "7")]
    [InlineData("-0.0", "0")]
    [InlineData(".5", "0.5")]
    [InlineData("0.50", "0.5")]
    [InlineData("- 12", "-12")]
    [InlineData("1 234 567", "1234567")]
    [InlineData("12,345,678.25", "12345678.25")]
    [InlineData("123456789012345678901234567890123.10", "123456789012345678901234567890123.1")]   // exact beyond decimal's range
    public void CanonicalNumber_Number_ReturnsCanonicalForm(string text, string expected)
    {
        Assert.Equal(expected, AnswerChecker.CanonicalNumber(text));
    }

    [Theory]
    [InlineData("1,23")]                                                        // not thousands groups
    [InlineData("1e3")]
    [InlineData("abc")]
    [InlineData("12 - 5")]
    [InlineData("--5")]
    [InlineData("")]
    public void CanonicalNumber_NotOneNumber_ReturnsNull(string text)
    {
        Assert.Null(AnswerChecker.CanonicalNumber(text));
    }

    [Theory]
    [InlineData("So she earned $10.\n#### 10", "10", 1.0)]
    [InlineData("#### 1,234", "1234", 1.0)]
    [InlineData("#### \u22125", "-5", 1.0)]
    [InlineData("#### 3.0", "3", 1.0)]
    [InlineData("#### 1235", "1234", 0.0)]
    [InlineData("#### -5", "5", 0.0)]                                           // sign matters
    [InlineData("The answer is 1234", "1234", 0.0)]                             // no marker
    [InlineData("#### 1234\n#### 1", "1234", 0.0)]                              // last marker counts
    [InlineData("#### 72 clips", "72", 0.0)]
    [InlineData("#### olleh", "olleh", 1.0)]
    [InlineData("#### Olleh", "olleh", 0.0)]                                    // text answers are case-sensitive
    [InlineData("<think>7*6</think> <answer>42</answer>", "42", 1.0)]
    public void Correctness_CompletionAndAnswer_MatchesHandVerdict(string completion, string answer, double expected)
    {
        Assert.Equal(expected, Reward.Correctness(completion, answer));
    }

    [Theory]
    [InlineData("<think>2 + 2 = 4</think><answer>4</answer>")]
    [InlineData("\n<think>\n2 + 2 = 4\n</think>\n<answer>4</answer>\n")]
    [InlineData("<think>x</think> <answer>85</answer> \n\n")]
    public void Format_R1Template_ReturnsOne(string completion)
    {
        Assert.Equal(1.0, Reward.Format(completion));
    }

    [Theory]
    [InlineData("2 + 2 = 4\n#### 4")]                                            // no think
    [InlineData("<think> \n</think><answer>4</answer>")]                        // empty think
    [InlineData("<think>a</think>")]                                            // no answer
    [InlineData("<think>a</think><answer>4</answer> and more")]                 // text after </answer>
    [InlineData("<think>a</think><answer>4</answer><answer>5</answer>")]        // two answers
    [InlineData("<think>a<think>b</think></think><answer>4</answer>")]          // nested think
    [InlineData("<answer>4</answer><think>a</think>")]                          // out of order
    [InlineData("Sure! <think>a</think><answer>4</answer>")]                    // text before think
    [InlineData("<think>a</think><answer> </answer>")]                          // empty answer
    [InlineData("<think>a</think><answer><answer>4</answer></answer>")]         // nested answer
    [InlineData("<think>a</think><answer>4")]                                   // unclosed answer
    [InlineData("<think>a</think>\n#### 4\nthat was easy")]                     // marker not on the last line
    [InlineData("<think>a</think>\n#### ")]                                     // empty marker
    [InlineData("<think>47 + 38 = 85</think>\nSo the sum is 85.\n#### 85")]    // GSM8K's marker is not R1's answer tag
    [InlineData("<think>a</think> words <answer>4</answer>")]                   // text between think and answer
    [InlineData("<think>a")]                                                    // think never closed
    public void Format_BrokenTemplate_ReturnsZero(string completion)
    {
        Assert.Equal(0.0, Reward.Format(completion));
    }

    [Theory]
    [InlineData("<think>6*7</think><answer>42</answer>", "42", 1.0)]
    [InlineData("<answer> 1,234. </answer>", "1234", 1.0)]
    [InlineData("<think>6*7</think><answer>42</answer><answer>42</answer>", "42", 0.0)]      // several answers
    [InlineData("</answer>42<answer>", "42", 0.0)]                                          // out of order
    [InlineData("<answer><answer>42</answer></answer>", "42", 0.0)]                         // nested
    [InlineData("<answer>42", "42", 0.0)]                                                   // never closed
    [InlineData("#### 42", "42", 0.0)]                                                      // no tag
    [InlineData("<answer>forty-two</answer>", "42", 0.0)]                                   // not numeric
    [InlineData("<answer>99999999999999999999999999999999999</answer>", "99999999999999999999999999999999999", 1.0)]   // huge, exact
    [InlineData("<answer>99999999999999999999999999999999999</answer>", "99999999999999999999999999999999998", 0.0)]
    public void TaggedCorrectness_AdversarialCompletions_MatchesHandVerdict(string completion, string answer, double expected)
    {
        Assert.Equal(expected, Reward.TaggedCorrectness(completion, answer));
    }
}
