using System.IO.MemoryMappedFiles;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Data;

/// <summary>A prepared data folder (meta.json, train.bin, val.bin) opened read-only through memory maps, as nanoGPT's <c>np.memmap</c> reader (Karpathy 2022).</summary>
public sealed class TokenDataset : IDisposable
{
    public string Dir { get; }
    public TokenDataMeta Meta { get; }
    public TokenSplit Train { get; }
    public TokenSplit Val { get; }

    private TokenDataset(string dir, TokenDataMeta meta, TokenSplit train, TokenSplit val)
    {
        Dir = dir;
        Meta = meta;
        Train = train;
        Val = val;
    }

    /// <summary>Opens <paramref name="dir"/>; throws <see cref="DataException"/> when meta.json is missing or corrupt or a .bin size does not match it.</summary>
    public static TokenDataset Open(string dir)
    {
        if (!Directory.Exists(dir)) throw new DataException($"data folder {dir} does not exist");
        var meta = TokenDataMeta.Load(dir);
        var train = TokenSplit.Open("train", Path.Combine(dir, TokenDataMeta.TrainFile), meta.TrainTokens, meta.ElementType);
        try { return new TokenDataset(dir, meta, train, TokenSplit.Open("val", Path.Combine(dir, TokenDataMeta.ValFile), meta.ValTokens, meta.ElementType)); }
        catch { train.Dispose(); throw; }
    }

    /// <summary>"train" or "val".</summary>
    public TokenSplit Split(string name) => name switch
    {
        "train" => Train,
        "val" => Val,
        _ => throw new DataException($"unknown split '{name}' (use train or val)"),
    };

    public void Dispose()
    {
        Train.Dispose();
        Val.Dispose();
    }
}

/// <summary>One memory-mapped token file with nanoGPT's <c>get_batch</c>: random windows x = data[i:i+T], y = data[i+1:i+1+T].</summary>
public sealed unsafe class TokenSplit : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly TokenDType _dtype;

    public string Name { get; }
    public string Path { get; }
    /// <summary>Number of tokens.</summary>
    public long Length { get; }

    private TokenSplit(string name, string path, long length, TokenDType dtype, MemoryMappedFile? map, MemoryMappedViewAccessor? view)
    {
        Name = name;
        Path = path;
        Length = length;
        _dtype = dtype;
        _map = map;
        _view = view;
        if (view is not null)
        {
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + view.PointerOffset;
        }
    }

    internal static TokenSplit Open(string name, string path, long tokens, TokenDType dtype)
    {
        if (!File.Exists(path)) throw new DataException($"{path} does not exist; the data folder is incomplete");
        long bytes = new FileInfo(path).Length, expected = tokens * (dtype == TokenDType.UInt16 ? 2 : 4);
        if (bytes != expected)
            throw new DataException($"{path} has {bytes:N0} bytes but meta.json says {tokens:N0} {TokenDataMeta.DTypeName(dtype)} tokens ({expected:N0} bytes); the data folder is corrupt, prepare it again");
        if (bytes == 0) return new TokenSplit(name, path, 0, dtype, null, null);
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, bytes, MemoryMappedFileAccess.Read);
        return new TokenSplit(name, path, tokens, dtype, map, view);
    }

    /// <summary>Token at <paramref name="index"/>.</summary>
    public long this[long index]
    {
        get
        {
            if ((ulong)index >= (ulong)Length) throw new ArgumentOutOfRangeException(nameof(index));
            return _dtype == TokenDType.UInt16 ? ((ushort*)_base)[index] : ((uint*)_base)[index];
        }
    }

    /// <summary>Copies tokens [offset, offset + dest.Length) into <paramref name="dest"/>.</summary>
    public void Read(long offset, Span<long> dest)
    {
        if (offset < 0 || offset + dest.Length > Length) throw new ArgumentOutOfRangeException(nameof(offset));
        if (_dtype == TokenDType.UInt16) { var src = (ushort*)_base + offset; for (int i = 0; i < dest.Length; i++) dest[i] = src[i]; }
        else { var src = (uint*)_base + offset; for (int i = 0; i < dest.Length; i++) dest[i] = src[i]; }
    }

    /// <summary>Throws a <see cref="DataException"/> naming both sizes when this split cannot hold one (x, y) window of <paramref name="blockSize"/>.</summary>
    public void EnsureFits(int blockSize)
    {
        if (blockSize < 1) throw new DataException($"block size {blockSize} must be at least 1");
        if (Length < blockSize + 1L)
            throw new DataException($"the {Name} split has {Length:N0} tokens but block size {blockSize:N0} needs at least {blockSize + 1L:N0}; use a smaller block size or a larger corpus");
    }

    /// <summary>Number of distinct start offsets for a window of <paramref name="blockSize"/> (nanoGPT: <c>len(data) - block_size</c>).</summary>
    public long Offsets(int blockSize) => Length - blockSize;

    /// <summary>nanoGPT's get_batch: <c>ix = torch.randint(len(data) - T, (B,), generator)</c>; x, y int64 (B, T).</summary>
    public (Tensor X, Tensor Y) SampleBatch(int batchSize, int blockSize, Generator generator)
    {
        EnsureFits(blockSize);
        using var ix = torch.randint(Offsets(blockSize), [batchSize], dtype: ScalarType.Int64, generator: generator);   // (B)
        return Batch(ix.data<long>().ToArray(), blockSize);
    }

    /// <summary>get_batch with offsets from a serialisable <see cref="BatchRng"/>; x, y int64 (B, T).</summary>
    public (Tensor X, Tensor Y) SampleBatch(int batchSize, int blockSize, BatchRng rng)
    {
        EnsureFits(blockSize);
        var offsets = new long[batchSize];
        for (int b = 0; b < batchSize; b++) offsets[b] = rng.NextLong(Offsets(blockSize));
        return Batch(offsets, blockSize);
    }

    /// <summary>x[b] = data[o_b : o_b+T], y[b] = data[o_b+1 : o_b+1+T], int64 (B, T).</summary>
    public (Tensor X, Tensor Y) Batch(IReadOnlyList<long> offsets, int blockSize)
    {
        EnsureFits(blockSize);
        int b = offsets.Count;
        var x = new long[b * blockSize];
        var y = new long[b * blockSize];
        var window = new long[blockSize + 1];
        for (int i = 0; i < b; i++)
        {
            if (offsets[i] < 0 || offsets[i] > Offsets(blockSize)) throw new ArgumentOutOfRangeException(nameof(offsets), $"offset {offsets[i]} leaves no room for a window of {blockSize} + 1 tokens");
            Read(offsets[i], window);
            Array.Copy(window, 0, x, i * blockSize, blockSize);
            Array.Copy(window, 1, y, i * blockSize, blockSize);
        }
        return (torch.tensor(x, [b, blockSize]), torch.tensor(y, [b, blockSize]));         // (B, T) each
    }

    /// <summary>Non-overlapping windows at 0, T, 2T, … that fit (with the shifted target): <c>(Length - 1) / T</c> of them.</summary>
    public long SequentialWindows(int blockSize) => blockSize < 1 || Length < 2 ? 0 : (Length - 1) / blockSize;

    /// <summary>
    /// Deterministic evaluation pass: batches of up to <paramref name="batchSize"/> non-overlapping windows, starting at window
    /// <paramref name="startWindow"/> (a trainer can store the next window index to resume), at most <paramref name="maxBatches"/> batches.
    /// </summary>
    public IEnumerable<(Tensor X, Tensor Y)> SequentialBatches(int batchSize, int blockSize, long startWindow = 0, long? maxBatches = null)
    {
        EnsureFits(blockSize);
        long windows = SequentialWindows(blockSize), made = 0;
        for (long w = startWindow; w < windows && (maxBatches is null || made < maxBatches); w += batchSize, made++)
        {
            int n = (int)Math.Min(batchSize, windows - w);
            var offsets = new long[n];
            for (int i = 0; i < n; i++) offsets[i] = (w + i) * blockSize;
            yield return Batch(offsets, blockSize);
        }
    }

    public void Dispose()
    {
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}

/// <summary>
/// Seeded random offsets whose whole state is one 64-bit word (SplitMix64, Steele et al. 2014), so a trainer can save it and resume the
/// exact batch sequence; draws are unbiased (Lemire 2019 rejection).
/// </summary>
public sealed class BatchRng
{
    public BatchRng(ulong seed) => State = new BatchRngState { Seed = seed, Word = seed, Draws = 0 };

    /// <summary>Current state; assign a saved one to resume.</summary>
    public BatchRngState State { get; set; }

    public ulong NextULong()
    {
        ulong z = State.Word + 0x9E3779B97F4A7C15UL;
        State = State with { Word = z, Draws = State.Draws + 1 };
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    public long NextLong(long maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive));
        ulong range = (ulong)maxExclusive;
        ulong threshold = (0UL - range) % range;
        while (true)
        {
            UInt128 m = (UInt128)NextULong() * range;
            if ((ulong)m >= threshold) return (long)(ulong)(m >> 64);
        }
    }
}

/// <summary>Serialisable state of a <see cref="BatchRng"/> (saved with a checkpoint).</summary>
public sealed record BatchRngState
{
    [JsonPropertyName("seed")] public ulong Seed { get; init; }
    [JsonPropertyName("word")] public ulong Word { get; init; }
    [JsonPropertyName("draws")] public long Draws { get; init; }
}
