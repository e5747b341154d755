using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Tokenization;

public sealed class TokenizerLoaderTests
{
    [Fact]
    public void Load_VocabAndMerges_GivesGpt2Tokenizer()
    {
        Assert.IsType<Gpt2Tokenizer>(TokenizerLoader.Load(TokenizerCases.FirstCaseDir()));
    }

    [Fact]
    public void Load_TokenizerJsonNextToVocabJson_PrefersTokenizerJson()
    {
        using var tmp = new TempDir();
        var dir = TokenizerCases.FirstCaseDir();
        File.Copy(Path.Combine(dir, "vocab.json"), tmp["vocab.json"]);
        File.Copy(Path.Combine(dir, "merges.txt"), tmp["merges.txt"]);
        File.WriteAllText(tmp["tokenizer.json"], TokenizerCases.BuildTokenizerJson(dir, mergesAsArrays: false));
        Assert.IsType<HfTokenizer>(TokenizerLoader.Load(tmp.Path));
    }

    [Fact]
    public void Load_EmptyFolder_ThrowsTokenizerExceptionListingExpectedFiles()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<TokenizerException>(() => TokenizerLoader.Load(tmp.Path));
        Assert.Contains("tokenizer.json", e.Message);
    }

    [Fact]
    public void Load_MissingFolder_ThrowsTokenizerException()
    {
        Assert.Throws<TokenizerException>(() => TokenizerLoader.Load("/nonexistent/sharpseek-tokenizer"));
    }
}
