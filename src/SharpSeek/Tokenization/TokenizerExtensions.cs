namespace SharpSeek.Tokenization;

/// <summary>Checks and helpers shared by every <see cref="ITextTokenizer"/>.</summary>
public static class TokenizerExtensions
{
    /// <summary>Throws <see cref="TokenizerException"/> if the tokenizer can produce ids the model has no embedding for.</summary>
    public static void EnsureFitsModel(this ITextTokenizer tokenizer, int modelVocabSize)
    {
        if (tokenizer.VocabSize > modelVocabSize)
            throw new TokenizerException($"The tokenizer has {tokenizer.VocabSize} token ids but the model's vocab_size is only {modelVocabSize}.");
    }

    /// <summary>The text of one token as <see cref="ITextTokenizer.Decode"/> gives it (may be U+FFFD for a partial UTF-8 character).</summary>
    public static string TokenText(this ITextTokenizer tokenizer, int id) => tokenizer.Decode([id]);
}
