using SharpSeek.Data.Chat;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Tests.Data.Chat;

public class ChatExamplesTests
{
    /// <summary>The byte tokenizer sharpseek init writes (ids = UTF-8 bytes, 256 = end of text) with the template's tokens added.</summary>
    internal static AddedTokensTokenizer ByteTokenizer(IChatTemplate template)
    {
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);
        return template.WithSpecialTokens(HfTokenizer.FromFolder(dir.Path));
    }

    private static int[] Bytes(string s) => System.Text.Encoding.UTF8.GetBytes(s).Select(b => (int)b).ToArray();

    [Fact]
    public void SupervisedTargets_ChatMl_TargetsAreAssistantTokensAndEndOfTurnOnly()
    {
        var tok = ByteTokenizer(ChatTemplates.ChatMl);                                   // <|im_start|> = 257, <|im_end|> = 258
        var example = new SftExample([new("user", "hi"), new("assistant", "ok")], "t:1");
        var (ids, targets) = ChatExamples.SupervisedTargets(ChatExamples.Encode(ChatTemplates.ChatMl, tok, example));
        int[] expectedIds = [257, .. Bytes("user\nhi"), 258, '\n', 257, .. Bytes("assistant\n"), 'o', 'k', 258, '\n'];
        Assert.Equal(expectedIds, ids);
        var expected = Enumerable.Repeat(-100L, ids.Length).ToArray();
        int o = Array.IndexOf(ids, (int)'o');
        expected[o - 1] = 'o'; expected[o] = 'k'; expected[o + 1] = 258;              // "\n" → o, o → k, k → <|im_end|>
        Assert.Equal(expected, targets);
    }

    [Fact]
    public void SupervisedTargets_DeepSeekTwoTurns_BothAssistantTurnsAndTheirEosSupervised()
    {
        var tok = ByteTokenizer(ChatTemplates.DeepSeek);                                 // BOS 257, User 258, Assistant 259, EOS 260
        var example = new SftExample([new("system", "s"), new("user", "a"), new("assistant", "b"), new("user", "c"), new("assistant", "d")], "t:1");
        var (ids, targets) = ChatExamples.SupervisedTargets(ChatExamples.Encode(ChatTemplates.DeepSeek, tok, example));
        Assert.Equal([257, 's', 258, 'a', 259, 'b', 260, 258, 'c', 259, 'd', 260], ids);
        Assert.Equal([-100L, -100, -100, -100, 'b', 260, -100, -100, -100, 'd', 260, -100], targets);
    }

    [Fact]
    public void EncodePromptCompletion_PromptIsTheGenerationPromptAndMaskCoversCompletionOnly()
    {
        var tok = ByteTokenizer(ChatTemplates.ChatMl);
        ChatMessage[] prompt = [new("user", "q"), new("assistant", "earlier"), new("user", "r")];
        var (ids, mask) = ChatExamples.EncodePromptCompletion(ChatTemplates.ChatMl, tok, prompt, "xy");
        var promptIds = ChatTemplates.ChatMl.Encode(tok, prompt, addGenerationPrompt: true).Ids;
        Assert.Equal(promptIds, ids.Take(promptIds.Count));
        Assert.Equal([.. promptIds, 'x', 'y', 258, '\n'], ids);
        Assert.Equal([.. Enumerable.Repeat(false, promptIds.Count), true, true, true, false], mask);   // not the earlier assistant turn
        Assert.Throws<DataException>(() => ChatExamples.EncodePromptCompletion(ChatTemplates.ChatMl, tok, prompt, " "));
    }

    [Fact]
    public void Encode_ContentWithSpecialToken_ErrorNamesFileAndLine()
    {
        var tok = ByteTokenizer(ChatTemplates.ChatMl);
        var example = new SftExample([new("user", "a<|im_end|>b"), new("assistant", "ok")], "f.jsonl:7");
        var e = Assert.Throws<DataException>(() => ChatExamples.Encode(ChatTemplates.ChatMl, tok, example));
        Assert.StartsWith("f.jsonl:7: ", e.Message);
    }

    [Fact]
    public void EncodeSample_LongerThanBlock_TruncatedAndLastTargetIgnored_OrDroppedWhenNothingLeft()
    {
        var tok = ByteTokenizer(ChatTemplates.ChatMl);
        var example = new SftExample([new("user", "hi"), new("assistant", "okay")], "t:1");   // 27 tokens; "okay" starts at 21
        var cut = SftDataset.EncodeSample(example, ChatTemplates.ChatMl, tok, blockSize: 23, out bool truncated)!;
        Assert.True(truncated);
        Assert.Equal(23, cut.Length);
        Assert.Equal(['o', 'k', -100L], cut.Targets[^3..]);                            // "\n" → o, o → k, k's next is cut off
        Assert.Null(SftDataset.EncodeSample(example, ChatTemplates.ChatMl, tok, blockSize: 20, out truncated));
        Assert.True(truncated);
        var whole = SftDataset.EncodeSample(example, ChatTemplates.ChatMl, tok, blockSize: 64, out truncated)!;
        Assert.False(truncated);
        Assert.Equal(5, whole.Supervised);                                              // o, k, a, y, <|im_end|>
    }

    [Fact]
    public void Build_Packing_FillsRowsInOrderWithSegmentsAndPadding()
    {
        SftSample S(int n, int id) => new(Enumerable.Repeat(id, n).ToArray(), Enumerable.Repeat((long)id, n).ToArray());
        var rows = SftRows.Build([S(3, 1), S(4, 2), S(2, 3), S(7, 4)], blockSize: 8, packing: true, padId: 0);
        Assert.Equal(3, rows.Count);
        Assert.Equal([1L, 1, 1, 2, 2, 2, 2, 0], rows[0].Ids);
        Assert.Equal([0L, 0, 0, 1, 1, 1, 1, -1], rows[0].Segments);
        Assert.Equal([1L, 1, 1, 2, 2, 2, 2, -100], rows[0].Targets);
        Assert.Equal([3L, 3, 0, 0, 0, 0, 0, 0], rows[1].Ids);                           // 2 + 7 > 8: the next sample starts a row
        Assert.Equal([0L, 0, -1, -1, -1, -1, -1, -1], rows[1].Segments);
        Assert.Equal([0L, 0, 0, 0, 0, 0, 0, -1], rows[2].Segments);
        var padded = SftRows.Build([S(3, 1), S(4, 2)], blockSize: 8, packing: false, padId: 9);
        Assert.Equal(2, padded.Count);
        Assert.Equal([2L, 2, 2, 2, 9, 9, 9, 9], padded[1].Ids);
        Assert.Equal([2L, 2, 2, 2, -100, -100, -100, -100], padded[1].Targets);
    }
}
