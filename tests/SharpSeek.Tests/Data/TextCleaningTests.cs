using SharpSeek.Data;

namespace SharpSeek.Tests.Data;

public class TextCleaningTests
{
    [Fact]
    public void DedupLines_RepeatedLines_KeepsFirstAndAllBlankLines()
    {
        string[] lines = ["a", "b", "", "a", "", "c", "b"];
        Assert.Equal(["a", "b", "", "", "c"], TextCleaning.DedupLines(lines));
    }

    [Fact]
    public void DedupDocuments_TrailingWhitespaceDiffers_TreatedAsDuplicate()
    {
        Assert.Equal(["one", "two"], TextCleaning.DedupDocuments(["one", "two", "one \n"]));
    }

    [Fact]
    public void NonLetterRatio_MixedText_MatchesHandCount()
    {
        Assert.Equal(0.25, TextCleaning.NonLetterRatio("ab c1"), 12);       // letters a b c, non-letter 1; space ignored
        Assert.Equal(0.0, TextCleaning.NonLetterRatio("床前明月光"), 12);
        Assert.Equal(0.0, TextCleaning.NonLetterRatio(""), 12);
    }

    [Fact]
    public void Filter_MinLengthAndNonLetterRatio_DropsShortAndSymbolHeavyDocuments()
    {
        string[] docs = ["hello world", "hi", "12345 678 ab", "fine text here"];
        Assert.Equal(["hello world", "fine text here"], TextCleaning.Filter(docs, minChars: 5, maxNonLetterRatio: 0.5));
    }

    [Fact]
    public void SplitParagraphs_ConcatenationRestoresText()
    {
        string[] lines = ["", "a", "b", "", "", "c", ""];
        var paras = TextCleaning.SplitParagraphs(lines).ToList();
        Assert.Equal(["\na\nb\n\n\n", "c\n\n"], paras);
    }
}
