using System.Text.Json;

namespace SharpSeek.Training.Common;

/// <summary>
/// Reads a prepared data folder in nanoGPT's layout: <c>train.bin</c> and <c>val.bin</c> (raw little-endian uint16 token ids,
/// or uint32 when <c>meta.json</c> says <c>"dtype": "uint32"</c>) and <c>meta.json</c> with <c>vocab_size</c>.
/// </summary>
public static class BinTokenData
{
    public const string MetaFile = "meta.json";

    /// <summary>Loads both splits into memory as a seeded batch source.</summary>
    public static TokenArrayBatchSource Open(string dir, ulong seed)
    {
        if (!Directory.Exists(dir)) throw new DataException($"{dir}: data folder not found (run `sharpseek data prepare` first)");
        string metaPath = Path.Combine(dir, MetaFile);
        if (!File.Exists(metaPath)) throw new DataException($"{dir}: no {MetaFile} (not a prepared data folder)");
        int vocab;
        string dtype;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(metaPath));
            vocab = doc.RootElement.GetProperty("vocab_size").GetInt32();
            dtype = doc.RootElement.TryGetProperty("dtype", out var d) ? d.GetString() ?? "uint16" : "uint16";
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new DataException($"{metaPath}: expected a JSON object with an integer vocab_size ({e.Message})");
        }
        if (dtype is not ("uint16" or "uint32")) throw new DataException($"{metaPath}: dtype '{dtype}' is not uint16 or uint32");
        return new TokenArrayBatchSource(Read(Path.Combine(dir, "train.bin"), dtype, vocab), Read(Path.Combine(dir, "val.bin"), dtype, vocab), vocab, seed);
    }

    /// <summary>Reads one split; throws <see cref="DataException"/> if it is missing, empty or holds ids ≥ the vocabulary.</summary>
    public static int[] Read(string path, string dtype, int vocab)
    {
        if (!File.Exists(path)) throw new DataException($"{path}: token file not found");
        var bytes = File.ReadAllBytes(path);
        int size = dtype == "uint32" ? 4 : 2;
        if (bytes.Length == 0) throw new DataException($"{path}: the token file is empty");
        if (bytes.Length % size != 0) throw new DataException($"{path}: {bytes.Length} bytes is not a whole number of {dtype} tokens");
        var tokens = new int[bytes.Length / size];
        for (int i = 0; i < tokens.Length; i++)
        {
            long id = size == 2 ? BitConverter.ToUInt16(bytes, 2 * i) : BitConverter.ToUInt32(bytes, 4 * i);
            if (id >= vocab) throw new DataException($"{path}: token {i} is {id}, not below vocab_size {vocab}");
            tokens[i] = (int)id;
        }
        return tokens;
    }
}
