using SharpSeek.Data.Cleaning;

namespace SharpSeek.Tests.Data.Cleaning;

public class CleaningMathTests
{
    [Fact]
    public void Normalize_DecomposedAccentNbspTabsCrLfAndBlankRuns_HandChecked()
    {
        string input = "  Cafe\u0301\u00A0\u00A0au\tlait \r\n\r\n\r\n\r\nsecond\u3000line\u0007  \n\n";
        Assert.Equal("Caf\u00E9 au lait\n\nsecond line", TextNormalizer.Normalize(input));
    }

    [Fact]
    public void Normalize_AlreadyClean_Unchanged() => Assert.Equal("a b\nc\n\nd", TextNormalizer.Normalize("a b\nc\n\nd"));

    [Fact]
    public void Jaccard_TwoOfFourShared_IsHalf()
    {
        Assert.Equal(0.5, MinHash.Jaccard(new HashSet<int> { 1, 2, 3 }, new HashSet<int> { 2, 3, 4 }), 12);
        Assert.Equal(1.0, MinHash.Jaccard(new HashSet<int>(), new HashSet<int>()), 12);
    }

    [Fact]
    public void Shingles_ThreeCharsOfAbcde_ThreeWindowsCaseAndSpacesFolded()
    {
        var s = MinHash.Shingles("AB  cde", 3);                                   // "ab cde": "ab ", "b c", " cd", "cde"
        Assert.Equal(4, s.Count);
        Assert.Equal(s, MinHash.Shingles("ab\ncde", 3));
        Assert.Single(MinHash.Shingles("ab", 5));
    }

    [Fact]
    public void EstimatedJaccard_ManyPermutations_CloseToExact()
    {
        string a = string.Join(" ", Enumerable.Range(0, 200).Select(i => $"word{i}"));
        string b = string.Join(" ", Enumerable.Range(40, 200).Select(i => $"word{i}"));
        var mh = new MinHash(permutations: 512);
        double exact = MinHash.Jaccard(MinHash.Shingles(a, 5), MinHash.Shingles(b, 5));
        double estimate = MinHash.EstimatedJaccard(mh.Signature(a), mh.Signature(b));
        Assert.InRange(exact, 0.5, 0.8);
        Assert.InRange(estimate, exact - 0.07, exact + 0.07);                      // standard error √(J(1−J)/512) ≈ 0.022
        Assert.Equal(1.0, MinHash.EstimatedJaccard(mh.Signature(a), mh.Signature(a)));
    }

    [Theory]
    [InlineData(128, 0.8, 8, 16)]      // (1/8)^(1/16) = 0.878 is nearer 0.8 than (1/16)^(1/8) = 0.707
    [InlineData(128, 0.5, 32, 4)]      // (1/32)^(1/4) = 0.420; (1/16)^(1/8) = 0.707; (1/64)^(1/2) = 0.125
    [InlineData(16, 0.5, 8, 2)]        // (1/8)^(1/2) = 0.354 (gap 0.146) beats (1/4)^(1/4) = 0.707 (gap 0.207)
    public void ChooseBands_HandChecked(int permutations, double threshold, int bands, int rows) =>
        Assert.Equal((bands, rows), MinHash.ChooseBands(permutations, threshold));

    [Fact]
    public void LshIndex_NearCopyFoundUnrelatedNot()
    {
        var mh = new MinHash();
        var index = new LshIndex(mh.Permutations, 0.8);
        string doc = string.Join(" ", Enumerable.Range(0, 100).Select(i => $"token{i}"));
        index.Add(7, mh.Signature(doc));
        var near = index.FindDuplicate(mh.Signature(doc + " token100"));
        Assert.Equal(7, near?.Id);
        Assert.Null(index.FindDuplicate(mh.Signature("an entirely different document about whales and ships at sea")));
    }

    [Theory]
    [InlineData("The cat sat on the mat and the dog was in the house.", "en")]
    [InlineData("床前明月光，疑是地上霜。举头望明月，低头思故乡。", "zh")]
    [InlineData("Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam", "latin")]
    [InlineData("Привет мир, это тест", "other")]
    [InlineData("12345 !!! ---", "none")]
    public void Language_HandChecked(string text, string expected) => Assert.Equal(expected, DocumentStats.Language(text));

    [Fact]
    public void Scripts_MixedText_CountsEachScript() => Assert.Equal((3, 2, 1), DocumentStats.Scripts("abc 中文 я 1,"));

    [Fact]
    public void RepeatedLineRatio_TwoOfFiveLinesRepeat_IsPoint4() =>
        Assert.Equal(0.4, DocumentStats.RepeatedLineRatio("a\nb\na\n\nc\nb\n"), 12);

    [Fact]
    public void Quality_HandChecked()
    {
        // ((1 − 0.2) + (1 − 0) + min(1, log10(100)/3) + 1) / 4 = (0.8 + 1 + 0.6667 + 1) / 4 = 0.8667
        Assert.Equal(0.8667, DocumentStats.Quality(0.2, 0, 100, "en"), 4);
        Assert.Equal(0.625, DocumentStats.Quality(0.5, 0.5, 1000, "latin"), 4);            // (0.5 + 0.5 + 1 + 0.5) / 4
    }

    [Theory]
    [InlineData(199, "short")]
    [InlineData(200, "medium")]
    [InlineData(19_999, "long")]
    [InlineData(20_000, "very-long")]
    public void LengthBucket_Edges(int chars, string expected) => Assert.Equal(expected, DocumentStats.LengthBucket(chars));
}
