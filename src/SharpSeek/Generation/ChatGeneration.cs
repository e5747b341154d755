using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Generation;

/// <summary>Generation settings for chat models.</summary>
public static class ChatGeneration
{
    /// <summary><paramref name="options"/> (default: new) with <c>eos_token_id</c> = the template's end-of-turn id, so generation stops at the end of the assistant turn.</summary>
    public static GenerationOptions ForChat(this IChatTemplate template, ITextTokenizer tokenizer, GenerationOptions? options = null) =>
        (options ?? new GenerationOptions()) with { EosTokenId = [template.EndOfTurnId(tokenizer)] };
}
