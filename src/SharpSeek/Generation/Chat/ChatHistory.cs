using Microsoft.Extensions.AI;

namespace SharpSeek.Generation.Chat;

/// <summary>Keeps a conversation inside the model's context by dropping its oldest turns, as chat front ends do.</summary>
public static class ChatHistory
{
    /// <summary>
    /// The part of <paramref name="conversation"/> whose prompt leaves room for <paramref name="maxOutputTokens"/> in the
    /// context: the leading system messages, then the longest tail of the others that starts at a user message. Dropped: how
    /// many messages went. Throws <see cref="GenerationException"/> when the last user message alone does not fit.
    /// </summary>
    public static (IReadOnlyList<ChatMessage> Kept, int Dropped) Fit(SharpSeekChatClient client, IReadOnlyList<ChatMessage> conversation, int maxOutputTokens)
    {
        int budget = client.ContextLength - maxOutputTokens;
        int system = conversation.TakeWhile(m => m.Role == ChatRole.System).Count();
        var head = conversation.Take(system).ToList();
        var starts = Enumerable.Range(system, conversation.Count - system).Where(i => conversation[i].Role == ChatRole.User).ToList();
        if (starts.Count == 0 || starts[0] != system) starts.Insert(0, system);
        int prompt = 0;
        foreach (int start in starts)
        {
            var kept = head.Concat(conversation.Skip(start)).ToList();
            prompt = client.PromptIds(kept).Count;
            if (prompt <= budget) return (kept, start - system);
        }
        throw new GenerationException(
            $"the last message ({prompt} tokens with the system prompt) and max_tokens ({maxOutputTokens}) do not fit the model's context ({client.ContextLength} tokens); shorten it or lower max_tokens");
    }
}
