using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Data.Chat;

/// <summary>
/// Token ids and loss masks of chat examples, shared by SFT, the reward model, DPO and PPO: what is rendered with the chat
/// template is exactly what generation sees, and the mask marks the tokens the model is trained to produce.
/// </summary>
public static class ChatExamples
{
    /// <summary>
    /// A prompt (system/user/assistant turns, the last one a user turn) followed by the assistant <paramref name="completion"/>:
    /// ids of the whole rendered conversation, and per id whether it belongs to the completion (its content and the
    /// template's end-of-turn token). The prompt part equals <c>template.Encode(tokenizer, promptMessages, addGenerationPrompt: true)</c>,
    /// so the completion ids are what a policy would sample after that prompt. Throws <see cref="DataException"/> for an
    /// empty completion or text the template or tokenizer cannot express.
    /// </summary>
    public static (IReadOnlyList<int> Ids, IReadOnlyList<bool> CompletionMask) EncodePromptCompletion(
        IChatTemplate template, ITextTokenizer tokenizer, IReadOnlyList<ChatMessage> promptMessages, string completion)
    {
        if (string.IsNullOrWhiteSpace(completion)) throw new DataException("the completion is empty");
        var messages = promptMessages.Append(new ChatMessage(ChatMessage.Assistant, completion)).ToList();
        var full = template.Encode(tokenizer, messages);
        var prompt = template.Encode(tokenizer, promptMessages, addGenerationPrompt: true);
        if (prompt.Ids.Count > full.Ids.Count || !full.Ids.Take(prompt.Ids.Count).SequenceEqual(prompt.Ids))
            throw new DataException($"the {template.Name} rendering of the prompt is not a prefix of the rendered conversation");
        var mask = full.AssistantMask.Select((m, i) => m && i >= prompt.Ids.Count).ToList();   // the completion turn only
        return (full.Ids, mask);
    }

    /// <summary>
    /// Ids and next-token targets of one conversation for SFT: inputs = ids, targets[i] = ids[i + 1] where that token is
    /// assistant content or its end-of-turn (<see cref="ChatEncoding.AssistantMask"/>), else <paramref name="ignoreIndex"/>;
    /// the last position has no next token and is ignored.
    /// </summary>
    public static (int[] Ids, long[] Targets) SupervisedTargets(ChatEncoding encoding, long ignoreIndex = -100)
    {
        int n = encoding.Ids.Count;
        var ids = encoding.Ids.ToArray();
        var targets = new long[n];
        for (int i = 0; i < n; i++) targets[i] = i + 1 < n && encoding.AssistantMask[i + 1] ? ids[i + 1] : ignoreIndex;
        return (ids, targets);
    }

    /// <summary><paramref name="template"/>'s encoding of <paramref name="example"/>; errors name the example's file and line.</summary>
    public static ChatEncoding Encode(IChatTemplate template, ITextTokenizer tokenizer, SftExample example)
    {
        try { return template.Encode(tokenizer, example.Messages); }
        catch (DataException e) { throw new DataException($"{example.Source}: {e.Message}"); }
    }
}
