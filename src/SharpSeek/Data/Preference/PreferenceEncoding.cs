using SharpSeek.Data.Chat;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Data.Preference;

/// <summary>One rendered pair member: token ids of prompt + completion, and per token whether it belongs to the completion.</summary>
public sealed record EncodedSequence(int[] Ids, bool[] CompletionMask);

/// <summary>A pair as token ids: the chosen and the rejected conversation, and the pair's "file:line".</summary>
public sealed record EncodedPair(EncodedSequence Chosen, EncodedSequence Rejected, string Source);

/// <summary>
/// Pairs → token ids through a chat template: the conversation [prompt…, assistant: completion] rendered by
/// <see cref="ChatExamples.EncodePromptCompletion"/>, the encoder SFT uses; the completion tokens are the last assistant
/// turn (answer + end-of-turn token), so prompt (earlier assistant turns included), role markers and padding never count.
/// </summary>
public static class PreferenceEncoding
{
    /// <summary>
    /// Renders <paramref name="prompt"/> followed by the assistant turn <paramref name="completion"/>. Throws
    /// <see cref="DataException"/> prefixed with <paramref name="source"/> when the tokenizer cannot encode it, it is longer
    /// than <paramref name="maxLength"/> tokens, or no completion token remains.
    /// </summary>
    public static EncodedSequence Encode(IChatTemplate template, ITextTokenizer tokenizer, IReadOnlyList<ChatMessage> prompt, string completion,
                                         int maxLength, string source)
    {
        IReadOnlyList<int> ids;
        IReadOnlyList<bool> mask;
        try { (ids, mask) = ChatExamples.EncodePromptCompletion(template, tokenizer, prompt, completion); }
        catch (DataException ex) { throw new DataException($"{source}: {ex.Message}"); }
        if (ids.Count > maxLength)
            throw new DataException($"{source}: the conversation encodes to {ids.Count} tokens, more than the {maxLength} allowed (preference.max_length or the model's limit)");
        if (!mask.Any(m => m)) throw new DataException($"{source}: the completion encodes to no tokens");
        return new EncodedSequence([.. ids], [.. mask]);
    }

    /// <summary>Both members of <paramref name="pair"/> (see <see cref="Encode(IChatTemplate, ITextTokenizer, IReadOnlyList{ChatMessage}, string, int, string)"/>).</summary>
    public static EncodedPair Encode(IChatTemplate template, ITextTokenizer tokenizer, PreferencePair pair, int maxLength) =>
        new(Encode(template, tokenizer, pair.Prompt, pair.Chosen, maxLength, pair.Source),
            Encode(template, tokenizer, pair.Prompt, pair.Rejected, maxLength, pair.Source), pair.Source);
}
