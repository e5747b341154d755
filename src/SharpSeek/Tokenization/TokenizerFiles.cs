namespace SharpSeek.Tokenization;

/// <summary>The files that make up a tokenizer in a Hugging Face model folder.</summary>
public static class TokenizerFiles
{
    public static readonly IReadOnlyList<string> Names =
        ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "encoder.json", "vocab.bpe", "char_vocab.json"];

    /// <summary>Copies whichever tokenizer files exist in <paramref name="from"/> into <paramref name="to"/>; throws if there are none.</summary>
    public static void CopyInto(string from, string to)
    {
        int copied = 0;
        foreach (var name in Names)
        {
            string src = Path.Combine(from, name);
            if (!File.Exists(src)) continue;
            File.Copy(src, Path.Combine(to, name), overwrite: true);
            copied++;
        }
        if (copied == 0) throw new TokenizerException($"{from}: no tokenizer files ({string.Join(", ", Names)})");
    }
}
