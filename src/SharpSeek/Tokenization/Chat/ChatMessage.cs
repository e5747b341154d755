namespace SharpSeek.Tokenization.Chat;

/// <summary>One turn of a conversation: <see cref="Role"/> is "system", "user" or "assistant".</summary>
public sealed record ChatMessage(string Role, string Content)
{
    public const string System = "system", User = "user", Assistant = "assistant";

    public static readonly IReadOnlyList<string> Roles = [System, User, Assistant];
}

/// <summary>A rendered conversation: token ids and, per token, whether it is assistant content (the SFT loss mask).</summary>
public sealed record ChatEncoding(IReadOnlyList<int> Ids, IReadOnlyList<bool> AssistantMask);
