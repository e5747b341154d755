namespace SharpSeek.Tokenization;

/// <summary>Opens whatever tokenizer a folder holds: tokenizer.json (Hugging Face), vocab.json + merges.txt or encoder.json + vocab.bpe (GPT-2), or char_vocab.json (<see cref="CharTokenizer"/>).</summary>
public static class TokenizerLoader
{
    public static ITextTokenizer Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new TokenizerException($"Tokenizer folder {dir} does not exist.");
        if (File.Exists(Path.Combine(dir, "tokenizer.json"))) return HfTokenizer.FromFolder(dir);
        if (Gpt2Tokenizer.FindFiles(dir) is not null) return Gpt2Tokenizer.FromFolder(dir);
        if (File.Exists(Path.Combine(dir, CharTokenizer.FileName))) return CharTokenizer.Load(Path.Combine(dir, CharTokenizer.FileName));
        throw new TokenizerException(
            $"{dir} holds no tokenizer: expected tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, or {CharTokenizer.FileName}.");
    }
}
