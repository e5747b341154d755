using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Tokenization;

public sealed class CharTokenizerTests
{
    [Fact]
    public void FromCorpus_Text_VocabularyIsSortedUniqueCharacters()
    {
        var tok = CharTokenizer.FromCorpus("hello\nworld!");
        Assert.Equal(["\n", "!", "d", "e", "h", "l", "o", "r", "w"], tok.Chars);
        Assert.Equal([4, 3, 5, 5, 6], tok.Encode("hello"));
    }

    [Fact]
    public void Encode_AstralCharacter_IsOneToken()
    {
        var tok = CharTokenizer.FromCorpus("a🤗b");
        Assert.Equal(3, tok.VocabSize);
        Assert.Equal([2], tok.Encode("🤗"));
        Assert.Equal("b🤗a", tok.Decode(tok.Encode("b🤗a")));
    }

    [Fact]
    public void SaveLoad_RoundTrip_SameIds()
    {
        using var tmp = new TempDir();
        var tok = CharTokenizer.FromCorpus("First Citizen:\n你好🤗");
        tok.Save(tmp[CharTokenizer.FileName]);
        var loaded = Assert.IsType<CharTokenizer>(TokenizerLoader.Load(tmp.Path));
        Assert.Equal(tok.Chars, loaded.Chars);
        Assert.Equal(tok.Encode("Citizen 你好"), loaded.Encode("Citizen 你好"));
    }

    [Fact]
    public void Encode_CharacterNotInVocabulary_ThrowsTokenizerException()
    {
        var e = Assert.Throws<TokenizerException>(() => CharTokenizer.FromCorpus("abc").Encode("abz"));
        Assert.Contains("U+007A", e.Message);
    }

    [Fact]
    public void FromCorpus_Empty_ThrowsTokenizerException()
    {
        Assert.Throws<TokenizerException>(() => CharTokenizer.FromCorpus(""));
    }

    [Fact]
    public void Load_WrongKind_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["v.json"], """{"kind": "bpe", "chars": ["a"]}""");
        Assert.Throws<TokenizerException>(() => CharTokenizer.Load(tmp["v.json"]));
    }
}
