using SharpSeek.Data;
using SharpSeek.Data.Tasks;
using SharpSeek.Evaluation.Suite;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Evaluation.Suite;

public class SuiteScoringTests
{
    [Fact]
    public void BitsPerChar_Ln2NatsPerTokenTwoCharsPerToken_IsHalf() =>
        Assert.Equal(0.5, SuiteScoring.BitsPerChar(Math.Log(2), tokens: 10, chars: 20), 12);

    [Fact]
    public void Perplexity_MeanNllLn4_IsFour() => Assert.Equal(4.0, SuiteScoring.Perplexity(Math.Log(4)), 12);

    [Fact]
    public void Argmax_TieAndNegativeScores_FirstLargest()
    {
        Assert.Equal(1, SuiteScoring.Argmax([-3.0, -1.0, -1.0, -2.0]));
        Assert.Equal(0, SuiteScoring.Argmax([5.0]));
    }

    [Fact]
    public void Percent_ThreeOfFour_Is75() => Assert.Equal(75.0, SuiteScoring.Percent(3, 4), 12);

    [Fact]
    public void HeldOutTail_CutInsideLine_StartsAtNextLine()
    {
        string text = "first line\nsecond line\nthird\n";
        Assert.Equal("third\n", SuiteScoring.HeldOutTail(text, 10));                // "ond line\nthird\n"[..] → from "third"
        Assert.Equal(text, SuiteScoring.HeldOutTail(text, 1000));
    }

    [Theory]
    [InlineData("(())", true)]
    [InlineData("()()", true)]
    [InlineData("())(", false)]
    [InlineData("(((", false)]
    [InlineData("", true)]
    public void Balanced_HandChecked(string s, bool expected) => Assert.Equal(expected, ProbeGenerator.Balanced(s));

    [Theory]
    [InlineData(ProbeGenerator.Copy)]
    [InlineData(ProbeGenerator.Reverse)]
    [InlineData(ProbeGenerator.Sort)]
    [InlineData(ProbeGenerator.Brackets)]
    [InlineData(ProbeGenerator.Count)]
    public void Probe_OwnCompletion_ScoresOneAndWrongAnswerZero(string probe)
    {
        ITaskGenerator g = new ProbeGenerator(probe);
        var rng = new SplitMix64(3);
        for (int level = 1; level <= g.Levels; level++)
        {
            var e = g.Generate(rng, level);
            Assert.Equal(1.0, g.Score(e, e.Completion));
            Assert.Equal(0.0, g.Score(e, "#### zzzz9"));
        }
    }

    [Fact]
    public void Probe_Answers_HandChecked()
    {
        var rng = new SplitMix64(11);
        var copy = new ProbeGenerator(ProbeGenerator.Copy).Generate(rng, 2);
        Assert.Equal(copy.Prompt["Copy the letters: ".Length..], copy.Answer);
        Assert.Equal(5, copy.Answer.Length);
        var rev = new ProbeGenerator(ProbeGenerator.Reverse).Generate(rng, 1);
        string letters = rev.Prompt["Reverse the letters: ".Length..];
        Assert.Equal($"{letters[2]}{letters[1]}{letters[0]}", rev.Answer);
        var sort = new ProbeGenerator(ProbeGenerator.Sort).Generate(rng, 3);
        var digits = sort.Answer.Split(' ').Select(int.Parse).ToList();
        Assert.Equal(digits.Order(), digits);
        Assert.Equal(sort.Prompt["Sort the digits: ".Length..].Split(' ').Select(int.Parse).Order(), digits);
        var count = new ProbeGenerator(ProbeGenerator.Count).Generate(rng, 1);
        char target = count.Prompt["How many times does ".Length];
        string s = count.Prompt[(count.Prompt.IndexOf(": ", StringComparison.Ordinal) + 2)..];
        Assert.Equal(s.Count(c => c == target).ToString(), count.Answer);
    }

    [Fact]
    public void Brackets_ManyDraws_BothAnswersOccur()
    {
        var g = new ProbeGenerator(ProbeGenerator.Brackets);
        var rng = new SplitMix64(5);
        var answers = Enumerable.Range(0, 200).Select(_ => g.Generate(rng, 2).Answer).ToList();
        Assert.InRange(answers.Count(a => a == "yes"), 60, 140);
    }

    [Fact]
    public void NextLineCloze_SameSeed_SameItemsAndLabelPointsAtTheNextLine()
    {
        string text = string.Join("\n", Enumerable.Range(0, 30).Select(i => $"this is line number {i:D2} of the text"));
        var a = ChoiceItems.NextLineCloze(text, 20, seed: 4);
        var b = ChoiceItems.NextLineCloze(text, 20, seed: 4);
        Assert.Equal(a.Select(i => i.Context + i.Label), b.Select(i => i.Context + i.Label));
        foreach (var item in a)
        {
            int last = int.Parse(item.Context.TrimEnd('\n').Split('\n')[^1][20..22]);
            Assert.Equal($"this is line number {last + 1:D2} of the text", item.Choices[item.Label]);
            Assert.Equal(4, item.Choices.Distinct().Count());
        }
        Assert.True(a.Select(i => i.Label).Distinct().Count() > 1);
    }

    [Fact]
    public void Segments_LongLineCutAtWordsShortPiecesDropped() =>
        Assert.Equal(["the quick brown fox", "jumps over the lazy"], ChoiceItems.Segments("the quick brown fox jumps over the lazy dog\nshort\n", maxChars: 20));

    [Fact]
    public void Encodable_OneUnknownCharacterOfTwenty_DroppedWithNote()
    {
        var tokenizer = SharpSeek.Tokenization.CharTokenizer.FromCorpus("abc ");
        var (text, note) = SuiteRunner.Encodable("abc abc abc abc abc\n", tokenizer);
        Assert.Equal("abc abc abc abc abc", text);
        Assert.Equal("1 of 20 characters (1 distinct) not in the vocabulary were dropped", note);
    }

    [Fact]
    public void Encodable_MostCharactersUnknown_ThrowsDataException() =>
        Assert.Throws<DataException>(() => SuiteRunner.Encodable("全唐诗全唐诗 abc", SharpSeek.Tokenization.CharTokenizer.FromCorpus("abc ")));

    [Fact]
    public void ReadJsonl_LabelOutOfRange_ThrowsDataExceptionNamingLine()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["mc.jsonl"], """
            {"context": "a", "choices": ["b", "c"], "label": 1}
            {"context": "a", "choices": ["b", "c"], "label": 2}
            """);
        var e = Assert.Throws<DataException>(() => ChoiceItems.ReadJsonl(tmp["mc.jsonl"]));
        Assert.Contains("line 2", e.Message);
    }

    [Fact]
    public void Standard_HasAtLeast20TasksOfEveryKind()
    {
        var s = SuiteConfig.Standard();
        Assert.True(s.Tasks.Count >= 20, $"{s.Tasks.Count} tasks");
        foreach (var kind in SuiteTask.Kinds) Assert.Contains(s.Tasks, t => t.Kind == kind);
        Assert.Equal(5, s.Tasks.Count(t => t.Kind == SuiteTask.Perplexity));
    }

    [Theory]
    [InlineData("""{"tasks": [{"kind": "bogus", "source": "x"}]}""", "kind")]
    [InlineData("""{"tasks": [{"kind": "generation", "source": "arithmetic", "levels": "9"}]}""", "level")]
    [InlineData("""{"tasks": [{"kind": "generation", "source": "probe-juggle"}]}""", "probe")]
    [InlineData("""{"tasks": []}""", "no tasks")]
    [InlineData("""{"tasks": [{"kind": "perplexity", "source": "a", "n": 0}]}""", "n must")]
    [InlineData("""{"tasks": [""", "not a valid suite")]
    public void Load_BadSuiteFile_ThrowsConfigException(string json, string expected)
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["s.json"], json);
        var e = Assert.Throws<ConfigException>(() => SuiteConfig.Load(tmp["s.json"]));
        Assert.Contains(expected, e.Message);
    }
}
