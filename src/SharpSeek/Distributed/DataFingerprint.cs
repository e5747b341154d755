using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SharpSeek.Data;
using SharpSeek.Training;

namespace SharpSeek.Distributed;

/// <summary>
/// A fingerprint of the data files a rank will read, so that <see cref="IDataParallel.CheckSame"/> can refuse ranks that
/// would train on different data (another host's stale copy, a re-prepared folder). A file up to
/// <see cref="FullHashLimit"/> bytes is hashed whole (SHA-256, streamed); a larger one by its size and the SHA-256 of
/// <see cref="SampleBlocks"/> blocks of <see cref="BlockBytes"/> spread evenly over it (first and last included), so a
/// multi-GB train.bin costs ~64 MiB of reading instead of all of it (docs/distributed.md, Data checksum).
/// </summary>
public static class DataFingerprint
{
    /// <summary>Files up to this size (256 MiB) are hashed whole: ~0.5 s at the ~0.5 GB/s measured here.</summary>
    public const long FullHashLimit = 256L << 20;

    /// <summary>Blocks sampled from a larger file.</summary>
    public const int SampleBlocks = 64;

    /// <summary>Bytes per sampled block (1 MiB).</summary>
    public const int BlockBytes = 1 << 20;

    /// <summary>
    /// One line per file: its name, then "missing", or its size and the SHA-256 of its contents (whole, or of the sampled
    /// blocks above <paramref name="fullHashLimit"/>). Equal files give equal text wherever they live.
    /// </summary>
    public static string Of(IEnumerable<string> paths, long fullHashLimit = FullHashLimit, int blocks = SampleBlocks, int blockBytes = BlockBytes)
    {
        var text = new StringBuilder();
        foreach (var path in paths)
        {
            text.Append(Path.GetFileName(path)).Append(": ");
            if (!File.Exists(path)) { text.Append("missing\n"); continue; }
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            long length = file.Length;
            bool whole = length <= fullHashLimit;
            byte[] hash = whole ? SHA256.HashData(file) : SampledHash(file, SampleOffsets(length, blocks, blockBytes), blockBytes);
            text.Append(length.ToString(CultureInfo.InvariantCulture)).Append(whole ? " bytes, sha256 " : $" bytes, sha256 of {blocks} sampled blocks ")
                .Append(Convert.ToHexStringLower(hash)).Append('\n');
        }
        return text.ToString();
    }

    /// <summary>
    /// Start offsets of <paramref name="blocks"/> blocks of <paramref name="blockBytes"/> spread evenly over a file of
    /// <paramref name="length"/> bytes: the first at 0, the last ending at the file's end, the rest evenly between (rounded
    /// down). A file too short for that many whole blocks gives its consecutive blocks (the last one partial).
    /// </summary>
    public static long[] SampleOffsets(long length, int blocks, int blockBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blocks, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockBytes, 1);
        if (length <= (long)blocks * blockBytes)
            return Enumerable.Range(0, (int)((length + blockBytes - 1) / blockBytes)).Select(i => (long)i * blockBytes).ToArray();
        long last = length - blockBytes;
        return Enumerable.Range(0, blocks).Select(i => (long)(i * (decimal)last / (blocks - 1))).ToArray();
    }

    /// <summary>SHA-256 over the blocks at <paramref name="offsets"/> (each <paramref name="blockBytes"/>, or up to the end), in order.</summary>
    private static byte[] SampledHash(FileStream file, long[] offsets, int blockBytes)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[blockBytes];
        foreach (long offset in offsets)
        {
            file.Position = offset;
            int n = file.ReadAtLeast(buffer, (int)Math.Min(blockBytes, file.Length - offset), throwOnEndOfStream: true);
            sha.AppendData(buffer, 0, n);
        }
        return sha.GetHashAndReset();
    }

    /// <summary>
    /// Throws <see cref="DistributedException"/> on every rank unless every rank of <paramref name="parallel"/> sees the same
    /// <paramref name="paths"/> (a collective: every rank calls it at the same point, before training).
    /// <paramref name="what"/> names the data in the message, e.g. "data set (meta.json, train.bin, val.bin of data/x)".
    /// </summary>
    public static void CheckSame(IDataParallel parallel, string what, IEnumerable<string> paths) => parallel.CheckSame(what, Of(paths));

    /// <summary>What a rank of <c>sharpseek train</c> reads from a prepared data folder: meta.json, train.bin, val.bin.</summary>
    public static IReadOnlyList<string> TokenDataFiles(string dataDir) =>
        new[] { TokenDataMeta.FileName, TokenDataMeta.TrainFile, TokenDataMeta.ValFile }.Select(n => Path.Combine(dataDir, n)).ToList();

    /// <summary>
    /// Every data file a training config names, in a fixed order: data_dir's token files (when data_dir is set), sft.data
    /// and sft.val_data, preference.data and preference.val_data, ppo.prompts and ppo.eval_prompts, grpo.prompts,
    /// grpo.eval_prompts and each grpo stage's prompts. A verb reads a subset of them; fingerprinting them all costs little
    /// (JSONL files are small) and a path that is named but absent is fingerprinted as "missing" on every rank alike.
    /// </summary>
    public static IReadOnlyList<string> ConfigDataFiles(TrainConfig c)
    {
        var paths = new List<string>();
        if (c.DataDir.Length > 0) paths.AddRange(TokenDataFiles(c.DataDir));
        void Add(string? path) { if (!string.IsNullOrEmpty(path)) paths.Add(path); }
        Add(c.Sft?.Data); Add(c.Sft?.ValData);
        Add(c.Preference?.Data); Add(c.Preference?.ValData);
        Add(c.Ppo?.Prompts); Add(c.Ppo?.EvalPrompts);
        Add(c.Grpo?.Prompts); Add(c.Grpo?.EvalPrompts);
        foreach (var stage in c.Grpo?.Stages ?? []) Add(stage.Prompts);
        return paths;
    }
}
