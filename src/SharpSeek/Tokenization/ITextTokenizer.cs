namespace SharpSeek.Tokenization;

/// <summary>Text ↔ token ids. Implemented for GPT-2 byte-level BPE, Hugging Face tokenizer.json and char-level vocabularies.</summary>
public interface ITextTokenizer
{
    /// <summary>Number of ids (including special tokens).</summary>
    int VocabSize { get; }

    /// <summary>Plain encoding: no BOS/EOS or other special token is added.</summary>
    IReadOnlyList<int> Encode(string text);

    /// <summary>Text of <paramref name="ids"/>. Incomplete UTF-8 at the end decodes to U+FFFD.</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>Beginning-of-sequence id, if the tokenizer has one.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id (GPT-2: &lt;|endoftext|&gt; = 50256), if any.</summary>
    int? EosId { get; }

    /// <summary>Padding id, if any.</summary>
    int? PadId { get; }
}
