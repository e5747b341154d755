namespace SharpSeek.Tokenization.Chat;

/// <summary>
/// DeepSeek-V3/R1's chat format (deepseek-ai/DeepSeek-V3 tokenizer_config.json <c>chat_template</c>, without tools):
/// <c>&lt;｜begin▁of▁sentence｜&gt;{system}&lt;｜User｜&gt;{user}&lt;｜Assistant｜&gt;{assistant}&lt;｜end▁of▁sentence｜&gt;</c>,
/// generation prompt <c>&lt;｜Assistant｜&gt;</c>, end of turn <c>&lt;｜end▁of▁sentence｜&gt;</c>. The format has one system
/// prompt, first; an empty one renders as nothing, so Parse(Render(m)) == m holds for conversations without empty system messages.
/// </summary>
public sealed class DeepSeekChatTemplate : IChatTemplate
{
    public const string Bos = "<｜begin▁of▁sentence｜>", UserTag = "<｜User｜>", AssistantTag = "<｜Assistant｜>", Eos = "<｜end▁of▁sentence｜>";

    public string Name => "deepseek";
    public string EndOfTurn => Eos;
    public IReadOnlyList<string> SpecialTokens { get; } = [Bos, UserTag, AssistantTag, Eos];

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false) =>
        string.Concat(Pieces(messages, addGenerationPrompt).Select(p => p.Text));

    public IReadOnlyList<(string Text, bool Assistant)> Pieces(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        var pieces = new List<(string, bool)> { (Bos, false) };
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            ChatTemplates.Check(m, SpecialTokens);
            switch (m.Role)
            {
                case ChatMessage.System when i == 0:
                    if (m.Content.Length > 0) pieces.Add((m.Content, false));
                    break;
                case ChatMessage.System:
                    throw new DataException($"The DeepSeek chat format allows one system message, first; message {i} is a system message.");
                case ChatMessage.User:
                    pieces.Add((UserTag, false));
                    if (m.Content.Length > 0) pieces.Add((m.Content, false));
                    break;
                default:
                    pieces.Add((AssistantTag, false));
                    if (m.Content.Length > 0) pieces.Add((m.Content, true));
                    pieces.Add((Eos, true));
                    break;
            }
        }
        if (addGenerationPrompt) pieces.Add((AssistantTag, false));
        return pieces;
    }

    public IReadOnlyList<ChatMessage> Parse(string text)
    {
        if (!text.StartsWith(Bos, StringComparison.Ordinal)) throw new DataException($"DeepSeek chat text does not start with {Bos}.");
        var messages = new List<ChatMessage>();
        var at = Bos.Length;
        var next = NextTag(text, at);
        if (next > at) messages.Add(new ChatMessage(ChatMessage.System, text[at..next]));
        at = next;
        while (at < text.Length)
        {
            if (text.AsSpan(at).StartsWith(UserTag, StringComparison.Ordinal))
            {
                at += UserTag.Length;
                next = NextTag(text, at);
                messages.Add(new ChatMessage(ChatMessage.User, text[at..next]));
                at = next;
            }
            else if (text.AsSpan(at).StartsWith(AssistantTag, StringComparison.Ordinal))
            {
                at += AssistantTag.Length;
                if (at == text.Length) break;                                      // the generation prompt
                var end = text.IndexOf(Eos, at, StringComparison.Ordinal);
                if (end < 0) throw new DataException($"DeepSeek assistant turn at offset {at} has no {Eos}.");
                messages.Add(new ChatMessage(ChatMessage.Assistant, text[at..end]));
                at = end + Eos.Length;
            }
            else throw new DataException($"DeepSeek chat text has unexpected text at offset {at}; expected {UserTag} or {AssistantTag}.");
        }
        return messages;
    }

    private static int NextTag(string text, int from)
    {
        var u = text.IndexOf(UserTag, from, StringComparison.Ordinal);
        var a = text.IndexOf(AssistantTag, from, StringComparison.Ordinal);
        if (u < 0) u = text.Length;
        if (a < 0) a = text.Length;
        return Math.Min(u, a);
    }
}
