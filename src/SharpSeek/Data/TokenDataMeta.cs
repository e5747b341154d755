using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpSeek.Data;

/// <summary>Element type of a token file: little-endian unsigned 16- or 32-bit ids, as nanoGPT's <c>np.uint16</c> train.bin (Karpathy 2022).</summary>
public enum TokenDType { UInt16, UInt32 }

/// <summary>meta.json of a prepared data folder (train.bin, val.bin, tokenizer files): what the token files hold and how they were made.</summary>
public sealed record TokenDataMeta
{
    public const string FileName = "meta.json";
    public const string TrainFile = "train.bin";
    public const string ValFile = "val.bin";
    public const string CurrentFormat = "sharpseek-tokens-v1";

    [JsonPropertyName("format")] public string Format { get; init; } = CurrentFormat;
    [JsonPropertyName("dtype")] public string DType { get; init; } = "uint16";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    /// <summary>How the tokenizer was named to <c>data prepare</c>: "char", "gpt2" or a folder.</summary>
    [JsonPropertyName("tokenizer")] public string Tokenizer { get; init; } = "";
    /// <summary>Tokenizer files saved in the data folder (TokenizerLoader.Load(dataDir) reopens them).</summary>
    [JsonPropertyName("tokenizer_files")] public IReadOnlyList<string> TokenizerFiles { get; init; } = [];
    [JsonPropertyName("eos_id")] public int? EosId { get; init; }
    [JsonPropertyName("source")] public string Source { get; init; } = "";
    [JsonPropertyName("characters")] public long Characters { get; init; }
    [JsonPropertyName("train_characters")] public long TrainCharacters { get; init; }
    [JsonPropertyName("train_tokens")] public long TrainTokens { get; init; }
    [JsonPropertyName("val_tokens")] public long ValTokens { get; init; }
    [JsonPropertyName("val_fraction")] public double ValFraction { get; init; }
    [JsonPropertyName("dedup")] public bool Dedup { get; init; }
    [JsonPropertyName("min_paragraph_chars")] public int MinParagraphChars { get; init; }
    [JsonPropertyName("max_non_letter_ratio")] public double MaxNonLetterRatio { get; init; } = 1.0;

    [JsonIgnore] public TokenDType ElementType => ParseDType(DType, FileName);
    [JsonIgnore] public int ElementSize => ElementType == TokenDType.UInt16 ? 2 : 4;

    public static string DTypeName(TokenDType t) => t == TokenDType.UInt16 ? "uint16" : "uint32";

    public static TokenDType ParseDType(string name, string where) => name switch
    {
        "uint16" => TokenDType.UInt16,
        "uint32" => TokenDType.UInt32,
        _ => throw new DataException($"{where}: dtype '{name}' is not supported (use uint16 or uint32)"),
    };

    public string ToJson() => JsonSerializer.Serialize(this, CorpusCard.Json);

    /// <summary>Reads and checks <c>dir/meta.json</c>; throws <see cref="DataException"/> when it is missing, not JSON, or inconsistent.</summary>
    public static TokenDataMeta Load(string dir)
    {
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) throw new DataException($"{path} does not exist; run 'sharpseek data prepare' to make a data folder");
        TokenDataMeta? meta;
        try { meta = JsonSerializer.Deserialize<TokenDataMeta>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new DataException($"{path} is not valid JSON: {e.Message}"); }
        if (meta is null) throw new DataException($"{path} is empty");
        if (meta.Format != CurrentFormat) throw new DataException($"{path}: format '{meta.Format}' is not {CurrentFormat}");
        var dtype = ParseDType(meta.DType, path);
        if (meta.VocabSize <= 0) throw new DataException($"{path}: vocab_size {meta.VocabSize} must be positive");
        if (dtype == TokenDType.UInt16 && meta.VocabSize > 65536) throw new DataException($"{path}: vocab_size {meta.VocabSize} does not fit dtype uint16");
        if (meta.TrainTokens < 0 || meta.ValTokens < 0) throw new DataException($"{path}: token counts must not be negative");
        return meta;
    }
}
