using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Tokenization;

public sealed class Gpt2TokenizerTests
{
    private static readonly Lazy<Gpt2Tokenizer> s_gpt2 = new(() => Gpt2Tokenizer.FromFolder(TokenizerCases.FirstCaseDir()));

    [Fact]
    public void PreTokenizer_AstralLettersAndDigits_StayInTheirWordPieces()
    {
        // U+1D518.. are Fraktur letters (\p{L}), U+1D7D9.. are math digits (\p{N}); both are surrogate pairs in UTF-16.
        var pieces = PreTokenizerPipeline.Gpt2().SplitToStrings("x\U0001D518\U0001D52Bi \U0001D7D9\U0001D7DA!");
        Assert.Equal(["x\U0001D518\U0001D52Bi", " \U0001D7D9\U0001D7DA", "!"], pieces);
    }

    [Fact]
    public void PreTokenizer_SpaceRunBeforeWord_LeavesLastSpaceToWord()
    {
        Assert.Equal(["a", "  ", " b", "\r\n"], PreTokenizerPipeline.Gpt2().SplitToStrings("a   b\r\n"));
    }

    [Fact]
    public void FromFolder_OpenAiFileNames_GivesSameIdsAsHuggingFaceNames()
    {
        using var tmp = new TempDir();
        File.Copy(Path.Combine(TokenizerCases.FirstCaseDir(), "vocab.json"), tmp["encoder.json"]);
        File.Copy(Path.Combine(TokenizerCases.FirstCaseDir(), "merges.txt"), tmp["vocab.bpe"]);
        var openAi = Gpt2Tokenizer.FromFolder(tmp.Path);
        const string text = "Hello world, it's 2024! 你好 🤗";
        Assert.Equal(s_gpt2.Value.Encode(text), openAi.Encode(text));
    }

    [Fact]
    public void Encode_EndOfTextInText_MatchesSpecialId()
    {
        var ids = s_gpt2.Value.Encode("Hi<|endoftext|>");
        Assert.Equal([17250, 50256], ids);
        Assert.Equal("Hi<|endoftext|>", s_gpt2.Value.Decode(ids));
    }

    [Fact]
    public void EncodeOrdinary_EndOfTextInText_EncodedAsPlainText()
    {
        var ids = s_gpt2.Value.EncodeOrdinary("<|endoftext|>");
        Assert.DoesNotContain(50256, ids);
        Assert.Equal("<|endoftext|>", s_gpt2.Value.Decode(ids));
    }

    [Fact]
    public void SpecialIds_NoConfig_EndOfTextIsBosAndEos()
    {
        Assert.Equal(50257, s_gpt2.Value.VocabSize);
        Assert.Equal(50256, s_gpt2.Value.EosId);
        Assert.Equal(50256, s_gpt2.Value.BosId);
        Assert.Null(s_gpt2.Value.PadId);
    }

    [Fact]
    public void SpecialIds_TokenizerConfig_AreTakenFromIt()
    {
        using var tmp = new TempDir();
        File.Copy(Path.Combine(TokenizerCases.FirstCaseDir(), "vocab.json"), tmp["vocab.json"]);
        File.Copy(Path.Combine(TokenizerCases.FirstCaseDir(), "merges.txt"), tmp["merges.txt"]);
        File.WriteAllText(tmp["tokenizer_config.json"], """{"bos_token": null, "eos_token": {"content": "<|endoftext|>"}, "pad_token": "!"}""");
        var tok = Gpt2Tokenizer.FromFolder(tmp.Path);
        Assert.Null(tok.BosId);
        Assert.Equal(50256, tok.EosId);
        Assert.Equal(0, tok.PadId);   // "!" is id 0 in GPT-2
    }

    [Fact]
    public void Decode_CutInsideMultiByteCharacter_GivesReplacementCharacter()
    {
        var ids = s_gpt2.Value.Encode("🤗");
        Assert.True(ids.Count > 1);
        Assert.Equal("\uFFFD", s_gpt2.Value.Decode(ids.Take(1)));
    }

    [Fact]
    public void Decode_UnknownId_ThrowsTokenizerException()
    {
        Assert.Throws<TokenizerException>(() => s_gpt2.Value.Decode([50257]));
    }

    [Fact]
    public void FromFolder_NoTokenizerFiles_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<TokenizerException>(() => Gpt2Tokenizer.FromFolder(tmp.Path));
        Assert.Contains("vocab.json", e.Message);
    }

    [Fact]
    public void FromFolder_MergeWithUnknownToken_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["vocab.json"], """{"a": 0, "b": 1}""");
        File.WriteAllText(tmp["merges.txt"], "#version: 0.2\na b\n");
        var e = Assert.Throws<TokenizerException>(() => Gpt2Tokenizer.FromFolder(tmp.Path));
        Assert.Contains("not in the vocabulary", e.Message);
    }

    [Fact]
    public void FromFolder_MalformedVocabJson_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["vocab.json"], """{"a": 0,""");
        File.WriteAllText(tmp["merges.txt"], "#version: 0.2\n");
        Assert.Throws<TokenizerException>(() => Gpt2Tokenizer.FromFolder(tmp.Path));
    }
}
