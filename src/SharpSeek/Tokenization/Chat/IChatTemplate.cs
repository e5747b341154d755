namespace SharpSeek.Tokenization.Chat;

/// <summary>
/// A chat format: conversation ↔ text ↔ token ids. Parse(Render(m)) == m for every conversation the template accepts.
/// Token ids are the concatenation of each piece's encoding (special tokens atomically), so training and generation see
/// the same ids, and ChatTemplates.Encode flags the assistant tokens (content + end-of-turn) for the SFT loss mask.
/// </summary>
public interface IChatTemplate
{
    /// <summary>Short name: "chatml" or "deepseek".</summary>
    string Name { get; }

    /// <summary>The token closing an assistant turn; generation stops on it.</summary>
    string EndOfTurn { get; }

    /// <summary>Every special token the template writes (to add to a tokenizer).</summary>
    IReadOnlyList<string> SpecialTokens { get; }

    /// <summary>Text of <paramref name="messages"/>, plus the assistant header when <paramref name="addGenerationPrompt"/>.</summary>
    string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false);

    /// <summary>The messages of a rendered conversation (a trailing generation prompt is dropped).</summary>
    IReadOnlyList<ChatMessage> Parse(string text);

    /// <summary>The rendered text as pieces: (text, is assistant content or its end-of-turn).</summary>
    IReadOnlyList<(string Text, bool Assistant)> Pieces(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false);
}
