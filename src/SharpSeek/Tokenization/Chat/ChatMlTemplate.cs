namespace SharpSeek.Tokenization.Chat;

/// <summary>
/// ChatML (OpenAI; the Qwen/OpenHermes chat_template): <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c> per
/// message, generation prompt <c>&lt;|im_start|&gt;assistant\n</c>, end of turn <c>&lt;|im_end|&gt;</c>. The default template.
/// </summary>
public sealed class ChatMlTemplate : IChatTemplate
{
    public const string ImStart = "<|im_start|>", ImEnd = "<|im_end|>";

    public string Name => "chatml";
    public string EndOfTurn => ImEnd;
    public IReadOnlyList<string> SpecialTokens { get; } = [ImStart, ImEnd];

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false) =>
        string.Concat(Pieces(messages, addGenerationPrompt).Select(p => p.Text));

    public IReadOnlyList<(string Text, bool Assistant)> Pieces(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        var pieces = new List<(string, bool)>();
        foreach (var m in messages)
        {
            ChatTemplates.Check(m, SpecialTokens);
            var assistant = m.Role == ChatMessage.Assistant;
            pieces.Add((ImStart, false));
            pieces.Add((m.Role + "\n", false));
            if (m.Content.Length > 0) pieces.Add((m.Content, assistant));
            pieces.Add((ImEnd, assistant));
            pieces.Add(("\n", false));
        }
        if (addGenerationPrompt) { pieces.Add((ImStart, false)); pieces.Add((ChatMessage.Assistant + "\n", false)); }
        return pieces;
    }

    public IReadOnlyList<ChatMessage> Parse(string text)
    {
        var messages = new List<ChatMessage>();
        var at = 0;
        while (at < text.Length)
        {
            if (string.CompareOrdinal(text, at, ImStart, 0, ImStart.Length) != 0)
                throw new DataException($"ChatML text has '{Excerpt(text, at)}' at offset {at} where {ImStart} was expected.");
            at += ImStart.Length;
            var newline = text.IndexOf('\n', at);
            if (newline < 0) throw new DataException($"ChatML text has no newline after the role at offset {at}.");
            var role = text[at..newline];
            at = newline + 1;
            var end = text.IndexOf(ImEnd, at, StringComparison.Ordinal);
            if (end < 0)
            {
                if (at == text.Length && role == ChatMessage.Assistant) break;       // the generation prompt
                throw new DataException($"ChatML message at offset {at} has no {ImEnd}.");
            }
            messages.Add(new ChatMessage(role, text[at..end]));
            at = end + ImEnd.Length;
            if (at < text.Length && text[at] == '\n') at++;
        }
        return messages;
    }

    private static string Excerpt(string text, int at) => text.Substring(at, Math.Min(20, text.Length - at));
}
