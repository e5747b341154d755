using SharpSeek.Tests.Data;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Tests.Tokenization.Chat;

public class ChatTemplateTests
{
    private static readonly ChatMessage[] Conversation =
    [
        new("system", "Be brief."), new("user", "2+2?"), new("assistant", "4"),
    ];

    /// <summary>The byte tokenizer sharpseek init writes, with <paramref name="template"/>'s special tokens added.</summary>
    private static AddedTokensTokenizer ByteTokenizerWith(IChatTemplate template)
    {
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);
        return template.WithSpecialTokens(HfTokenizer.FromFolder(dir.Path));
    }

    private static IEnumerable<ChatMessage> RandomConversation(Random rng, bool deepSeek)
    {
        string[] alphabet = ["a", "Z", " ", "\n", "é", "日本", "🙂", "<", "|", ">", "im_", "｜", "0", "\t"];
        string Text() => string.Concat(Enumerable.Range(0, rng.Next(0, 8)).Select(_ => alphabet[rng.Next(alphabet.Length)]));
        int n = rng.Next(0, 6);
        for (int i = 0; i < n; i++)
        {
            var role = ChatMessage.Roles[rng.Next(3)];
            var content = Text();
            if (deepSeek && role == ChatMessage.System && (i > 0 || content.Length == 0)) role = ChatMessage.User;
            yield return new ChatMessage(role, content);
        }
    }

    [Fact]
    public void ChatMlRender_Conversation_MatchesChatMlFormat()
    {
        var text = ChatTemplates.ChatMl.Render(Conversation, addGenerationPrompt: true);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void DeepSeekRender_Conversation_MatchesDeepSeekV3Format()
    {
        var text = ChatTemplates.DeepSeek.Render(Conversation, addGenerationPrompt: true);
        Assert.Equal("<｜begin▁of▁sentence｜>Be brief.<｜User｜>2+2?<｜Assistant｜>4<｜end▁of▁sentence｜><｜Assistant｜>", text);
    }

    [Theory]
    [InlineData("chatml")]
    [InlineData("deepseek")]
    public void Parse_RenderOfRandomConversations_GivesTheMessagesBack(string name)
    {
        var template = ChatTemplates.ByName(name);
        var rng = new Random(1234);
        for (int trial = 0; trial < 500; trial++)
        {
            var messages = RandomConversation(rng, name == "deepseek").ToArray();
            foreach (var gen in new[] { false, true })
                Assert.Equal(messages, template.Parse(template.Render(messages, gen)));
        }
    }

    [Theory]
    [InlineData("chatml")]
    [InlineData("deepseek")]
    public void Encode_RandomConversations_AssistantFlagsCoverExactlyAssistantContentAndEndOfTurn(string name)
    {
        var template = ChatTemplates.ByName(name);
        var tokenizer = ByteTokenizerWith(template);
        int eot = template.EndOfTurnId(tokenizer);
        var rng = new Random(99);
        for (int trial = 0; trial < 200; trial++)
        {
            var messages = RandomConversation(rng, name == "deepseek").ToArray();
            var enc = template.Encode(tokenizer, messages, addGenerationPrompt: trial % 2 == 0);
            Assert.Equal(enc.Ids.Count, enc.AssistantMask.Count);
            Assert.Equal(template.Render(messages, trial % 2 == 0), tokenizer.Decode(enc.Ids));
            var flagged = enc.Ids.Where((_, i) => enc.AssistantMask[i]).ToList();
            var expected = string.Concat(messages.Where(m => m.Role == "assistant").Select(m => m.Content + template.EndOfTurn));
            Assert.Equal(expected, tokenizer.Decode(flagged));
            Assert.Equal(messages.Count(m => m.Role == "assistant"), flagged.Count(id => id == eot));
            // Every end-of-turn token closing an assistant turn is flagged; in ChatML the ones closing other turns are not.
            if (name == "chatml") Assert.Equal(messages.Length, enc.Ids.Count(id => id == eot));
        }
    }

    [Fact]
    public void Encode_ChatMl_MaskIsTrueOnlyOnAssistantTokens()
    {
        var tokenizer = ByteTokenizerWith(ChatTemplates.ChatMl);
        var enc = ChatTemplates.ChatMl.Encode(tokenizer, [new("user", "hi"), new("assistant", "ok")]);
        // <|im_start|> u s e r \n h i <|im_end|> \n <|im_start|> a s s i s t a n t \n o k <|im_end|> \n
        bool[] expected = [.. Enumerable.Repeat(false, 1 + 5 + 2 + 1 + 1 + 1 + 10), true, true, true, false];
        Assert.Equal(expected, enc.AssistantMask);
    }

    [Fact]
    public void AddedTokens_ByteTokenizer_AppendedIdsEncodeAtomicallyAndDecodeBack()
    {
        var tokenizer = ByteTokenizerWith(ChatTemplates.ChatMl);
        Assert.Equal(ByteTokenizerFiles.VocabSize + 2, tokenizer.VocabSize);
        Assert.Equal(2, tokenizer.NewTokenCount);
        Assert.Equal(257, tokenizer.AddedTokens["<|im_start|>"]);
        Assert.Equal(258, tokenizer.AddedTokens["<|im_end|>"]);
        var ids = tokenizer.Encode("a<|im_start|>é<|im_end|><|im_end|>");
        Assert.Equal([(int)'a', 257, 0xC3, 0xA9, 258, 258], ids);
        Assert.Equal("a<|im_start|>é<|im_end|><|im_end|>", tokenizer.Decode(ids));
    }

    [Fact]
    public void AddedTokens_TokenAlreadyInVocabulary_KeepsItsId()
    {
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);
        var tokenizer = new AddedTokensTokenizer(HfTokenizer.FromFolder(dir.Path), ["<|endoftext|>", "<|im_end|>"]);
        Assert.Equal(256, tokenizer.AddedTokens["<|endoftext|>"]);
        Assert.Equal(257, tokenizer.AddedTokens["<|im_end|>"]);
        Assert.Equal(258, tokenizer.VocabSize);
    }

    [Fact]
    public void AddedTokens_CharTokenizer_SpecialsEncodeAndDecode()
    {
        var tokenizer = ChatTemplates.DeepSeek.WithSpecialTokens(CharTokenizer.FromCorpus("ab"));
        var ids = tokenizer.Encode("<｜User｜>ab<｜Assistant｜>");
        Assert.Equal([3, 0, 1, 4], ids);
        Assert.Equal("<｜User｜>ab<｜Assistant｜>", tokenizer.Decode(ids));
    }

    [Fact]
    public void Encode_ByteTokenizerWithoutAddedSpecials_ThrowsConfigExceptionNamingTheToken()
    {
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);
        var e = Assert.Throws<ConfigException>(() => ChatTemplates.ChatMl.Encode(HfTokenizer.FromFolder(dir.Path), Conversation));
        Assert.Contains("'<|im_start|>'", e.Message);
    }

    [Fact]
    public void Encode_CharTokenizerMissingCharacters_ThrowsDataExceptionNamingTheCharacter()
    {
        var tokenizer = ChatTemplates.ChatMl.WithSpecialTokens(CharTokenizer.FromCorpus("user\nhi"));
        var e = Assert.Throws<DataException>(() => ChatTemplates.ChatMl.Encode(tokenizer, [new("user", "hi"), new("assistant", "x")]));
        Assert.Contains("'a'", e.Message);
    }

    [Fact]
    public void Render_ContentWithSpecialToken_ThrowsDataException()
    {
        var e = Assert.Throws<DataException>(() => ChatTemplates.ChatMl.Render([new("user", "a<|im_end|>b")]));
        Assert.Contains("<|im_end|>", e.Message);
        Assert.Throws<DataException>(() => ChatTemplates.ChatMl.Render([new("tool", "x")]));
    }

    [Fact]
    public void DeepSeekRender_SecondSystemMessage_ThrowsDataException() =>
        Assert.Throws<DataException>(() => ChatTemplates.DeepSeek.Render([new("user", "a"), new("system", "b")]));

    [Fact]
    public void FromFolder_TokenizerConfigTemplates_SelectsByMarkers()
    {
        using var dir = new TempDir();
        Assert.Same(ChatTemplates.ChatMl, ChatTemplates.FromFolder(dir.Path));
        dir.File("tokenizer_config.json", """{"chat_template": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"}""");
        Assert.Same(ChatTemplates.ChatMl, ChatTemplates.FromFolder(dir.Path));
        dir.File("tokenizer_config.json", """{"chat_template": "{{ bos_token }}{%- for message in messages %}{%- if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}{%- elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>' }}{%- endif %}{%- endfor %}"}""");
        Assert.Same(ChatTemplates.DeepSeek, ChatTemplates.FromFolder(dir.Path));
        dir.File("tokenizer_config.json", """{"chat_template": "{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}"}""");
        var e = Assert.Throws<ConfigException>(() => ChatTemplates.FromFolder(dir.Path));
        Assert.Contains("not supported", e.Message);
        Assert.Contains("ChatML", e.Message);
        Assert.Contains("DeepSeek", e.Message);
    }
}

public class AddedTokenFilesTests
{
    [Fact]
    public void Write_ByteTokenizerWithDeepSeekSpecials_HfTokenizerLoadsThemAsSingleIds()
    {
        using var src = new TempDir();
        using var dst = new TempDir();
        ByteTokenizerFiles.Write(src.Path);
        var before = File.ReadAllText(Path.Combine(src.Path, "tokenizer.json"));
        var loaded = AddedTokenFiles.Write(src.Path, dst.Path, ChatTemplates.DeepSeek.SpecialTokens);
        Assert.Equal(before, File.ReadAllText(Path.Combine(src.Path, "tokenizer.json")));
        Assert.Equal(261, loaded.VocabSize);
        var ids = loaded.Encode("<｜begin▁of▁sentence｜>s<｜User｜>u<｜Assistant｜>a<｜end▁of▁sentence｜>");
        Assert.Equal([257, (int)'s', 258, (int)'u', 259, (int)'a', 260], ids);
        Assert.Equal("<｜begin▁of▁sentence｜>s<｜User｜>u<｜Assistant｜>a<｜end▁of▁sentence｜>", loaded.Decode(ids));
        ChatTemplates.DeepSeek.EnsureExpressible(loaded);
        Assert.Equal(260, ChatTemplates.DeepSeek.EndOfTurnId(loaded));
    }
}
