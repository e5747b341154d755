using System.Text.Json.Nodes;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Tokenization;

public sealed class HfTokenizerTests
{
    // DeepSeek-V3's tokenizer.json pre_tokenizer (three Splits + ByteLevel without regex).
    private const string DeepSeekPreTokenizer = """
        {"type": "Sequence", "pretokenizers": [
          {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
          {"type": "Split", "pattern": {"Regex": "[一-龥぀-ゟ゠-ヿ]+"}, "behavior": "Isolated", "invert": false},
          {"type": "Split", "pattern": {"Regex": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
          {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}
        """;

    /// <summary>256 byte tokens (id = byte) + the given merges + added tokens after them.</summary>
    private static string SmallTokenizerJson(string[] merges, string preTokenizer, (string Content, bool Special)[] added)
    {
        var vocab = new JsonObject();
        for (var b = 0; b < 256; b++) vocab[ByteLevel.ByteToChar[b].ToString()] = b;
        var next = 256;
        foreach (var m in merges)
        {
            var p = m.Split(' ');
            vocab[ByteLevel.FromText(p[0]) + ByteLevel.FromText(p[1])] = next++;
        }
        var addedJson = new JsonArray();
        foreach (var (content, special) in added)
            addedJson.Add(new JsonObject { ["id"] = next++, ["content"] = content, ["special"] = special, ["normalized"] = false });
        var mergesJson = new JsonArray(merges.Select(m => (JsonNode)JsonValue.Create(string.Join(" ", m.Split(' ').Select(s => ByteLevel.FromText(s)))))!.ToArray());
        return new JsonObject
        {
            ["added_tokens"] = addedJson,
            ["normalizer"] = null,
            ["pre_tokenizer"] = JsonNode.Parse(preTokenizer),
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = mergesJson },
        }.ToJsonString();
    }

    private const string Gpt2ByteLevel = """{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}""";

    private static HfTokenizer Write(TempDir tmp, string json, string? config = null)
    {
        File.WriteAllText(tmp["tokenizer.json"], json);
        if (config is not null) File.WriteAllText(tmp["tokenizer_config.json"], config);
        return HfTokenizer.FromFolder(tmp.Path);
    }

    [Fact]
    public void Encode_MergesAsArrays_SameIdsAsGpt2Tokenizer()
    {
        using var tmp = new TempDir();
        var hf = Write(tmp, TokenizerCases.BuildTokenizerJson(TokenizerCases.FirstCaseDir(), mergesAsArrays: true));
        var gpt2 = Gpt2Tokenizer.FromFolder(TokenizerCases.FirstCaseDir());
        const string text = "Merges as [a, b] arrays: it's the same BPE. 東京 🤗 <|endoftext|>";
        Assert.Equal(gpt2.Encode(text), hf.Encode(text));
    }

    [Fact]
    public void Encode_AddedTokensInText_MatchedAsWholeTokens()
    {
        using var tmp = new TempDir();
        var tok = Write(tmp, SmallTokenizerJson(["h i"], Gpt2ByteLevel, [("<s>", true), ("</s>", true), ("<|user|>", false)]));
        Assert.Equal([257, 256, 258], tok.Encode("<s>hi</s>"));
        Assert.Equal([259, (int)' ', 256], tok.Encode("<|user|> hi"));
        Assert.Equal(260, tok.VocabSize);
        Assert.Equal(["<s>", "</s>"], tok.SpecialTokens.Keys.Order(StringComparer.Ordinal).Reverse());
    }

    [Fact]
    public void EncodeOrdinary_AddedTokensInText_EncodedAsBytes()
    {
        using var tmp = new TempDir();
        var tok = Write(tmp, SmallTokenizerJson([], Gpt2ByteLevel, [("<s>", true)]));
        Assert.Equal([(int)'<', (int)'s', (int)'>'], tok.EncodeOrdinary("<s>"));
    }

    [Fact]
    public void Decode_AddedTokensAndBytes_RoundTrip()
    {
        using var tmp = new TempDir();
        var tok = Write(tmp, SmallTokenizerJson(["h i"], Gpt2ByteLevel, [("<｜begin▁of▁sentence｜>", true)]));
        const string text = "<｜begin▁of▁sentence｜>hi 你好 🤗\r\n";
        Assert.Equal(text, tok.Decode(tok.Encode(text)));
    }

    [Fact]
    public void SpecialIds_TokenizerConfigContentObjects_Resolved()
    {
        using var tmp = new TempDir();
        var tok = Write(tmp, SmallTokenizerJson([], Gpt2ByteLevel, [("<s>", true), ("</s>", true)]),
            """{"add_bos_token": true, "bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "pad_token": {"content": "</s>"}}""");
        Assert.Equal(256, tok.BosId);
        Assert.Equal(257, tok.EosId);
        Assert.Equal(257, tok.PadId);
        Assert.True(tok.AddBosToken);
    }

    [Fact]
    public void SpecialIds_ConfigNamesUnknownToken_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<TokenizerException>(() => Write(tmp, SmallTokenizerJson([], Gpt2ByteLevel, []), """{"eos_token": "</s>"}"""));
        Assert.Contains("eos_token", e.Message);
    }

    [Fact]
    public void Encode_DeepSeekSplitSequence_SplitsDigitsInThrees()
    {
        // Merge "3 4" ranks first: without the \p{N}{1,3} split "1234" would become [12, 34]; with it, [123] [4].
        using var tmp = new TempDir();
        var tok = Write(tmp, SmallTokenizerJson(["3 4", "1 2", "12 3"], DeepSeekPreTokenizer, []));
        Assert.Equal([258, (int)'4'], tok.Encode("1234"));
    }

    [Fact]
    public void Encode_DeepSeekSplitSequence_RoundTripsMixedText()
    {
        using var tmp = new TempDir();
        var tok = Write(tmp, SmallTokenizerJson(["3 4", "1 2", "12 3"], DeepSeekPreTokenizer, []));
        const string text = "DeepSeek-V3 は 671B パラメータ。def f(x):\n    return x**2  # 平方\r\n\U0001D518 🤗";
        Assert.Equal(text, tok.Decode(tok.Encode(text)));
    }

    [Fact]
    public void Encode_AddPrefixSpace_PrependsSpace()
    {
        using var tmp = new TempDir();
        var tok = Write(tmp, SmallTokenizerJson([], """{"type": "ByteLevel", "add_prefix_space": true}""", []));
        Assert.Equal([(int)' ', (int)'a'], tok.Encode("a"));
    }

    [Fact]
    public void FromFolder_NotJson_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<TokenizerException>(() => Write(tmp, "{\"model\": "));
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void FromFolder_UnsupportedPreTokenizer_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<TokenizerException>(() => Write(tmp, SmallTokenizerJson([], """{"type": "Metaspace"}""", [])));
        Assert.Contains("Metaspace", e.Message);
    }

    [Fact]
    public void FromFolder_NoModel_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<TokenizerException>(() => Write(tmp, """{"added_tokens": []}"""));
        Assert.Contains("model", e.Message);
    }

    [Fact]
    public void FromFolder_MalformedMerge_ThrowsTokenizerException()
    {
        using var tmp = new TempDir();
        var json = SmallTokenizerJson([], Gpt2ByteLevel, []).Replace("\"merges\":[]", "\"merges\":[\"a b c\"]");
        Assert.Throws<TokenizerException>(() => Write(tmp, json));
    }
}
