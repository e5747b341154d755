using System.Globalization;
using System.Text.Json;
using SharpSeek.Data;
using SharpSeek.Data.Chat;
using SharpSeek.Distributed;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// One distillation micro-batch: the student's (and live teachers') input, next-token targets (B, T) (−100 = no loss) and,
/// for data that a teacher cache covers, each position's row in the cache (B·T, −1 = none).
/// </summary>
public sealed record DistillBatch(CausalLMInput Input, Tensor Targets, long[]? CacheRows);

/// <summary>What a distillation objective trains on: batches of one split, with a resumable sampling position.</summary>
public interface IDistillData
{
    /// <summary>The next micro-batch of <paramref name="split"/>.</summary>
    DistillBatch Next(DataSplit split);

    /// <summary>Tokens per micro-batch (B·T), for tokens/s.</summary>
    long TokensPerBatch { get; }

    /// <summary>Tokens per row (T).</summary>
    int BlockSize { get; }

    /// <summary>Throws when the data does not fit <paramref name="policy"/> (vocabulary, sequence length, too little data).</summary>
    void Validate(CausalLM policy);

    void Reseed(DataSplit split, ulong seed);

    string SaveState();

    void RestoreState(string state);
}

/// <summary>
/// Random token windows of an <see cref="IBatchSource"/> (nanoGPT's get_batch); no cache rows (the windows start anywhere).
/// With a split <paramref name="shard"/>, this rank's B/N rows of each global training batch (<see cref="ShardedBatchSource"/>).
/// </summary>
public sealed class WindowData(IBatchSource data, int batchSize, int blockSize, DataShard? shard = null) : IDistillData
{
    private readonly IBatchSource _data = shard is { IsSplit: true } s ? Sharded(data, batchSize, s) : data;
    private readonly int _rows = shard is { IsSplit: true } s2 ? s2.Per(batchSize) : batchSize;

    private static ShardedBatchSource Sharded(IBatchSource data, int batchSize, DataShard shard)
    {
        shard.CheckDivisible("batch_size", batchSize);
        return new ShardedBatchSource(data, shard.Rank, shard.Size);
    }

    public long TokensPerBatch => (long)_rows * blockSize;

    public int BlockSize => blockSize;

    public DistillBatch Next(DataSplit split)
    {
        var (x, y) = _data.SampleBatch(split, batchSize, blockSize);                  // (B, T), (B, T); train: (B/N, T) of a shard
        return new DistillBatch(new CausalLMInput(x), y, null);
    }

    public void Validate(CausalLM policy) => LanguageModelObjective.ValidateWindows(_data, blockSize, policy);

    public void Reseed(DataSplit split, ulong seed) => _data.Reseed(split, seed);

    public string SaveState() => _data.SaveState();

    public void RestoreState(string state) => _data.RestoreState(state);
}

/// <summary>
/// Training windows aligned to the block grid of a <see cref="TokenDataset"/> (window w = tokens [wT, wT + T), targets shifted
/// by one), the positions a teacher cache holds, drawn uniformly at random (a resumable <see cref="BatchRng"/>); cache row of
/// window w, position t: wT + t. Evaluation draws the same random held-out windows as <see cref="TokenDatasetBatchSource"/>
/// with the same seed (so val losses compare with <c>sharpseek train</c>'s), which no cache row covers: it reports the CE alone.
/// With a split shard: every rank draws the same global training windows and keeps its B/N.
/// </summary>
public sealed class AlignedWindowData : IDistillData
{
    private readonly TokenDataset _data;
    private readonly int _batchSize, _blockSize;
    private readonly DataShard _shard;
    private BatchRng _rng, _valRng;

    public AlignedWindowData(TokenDataset data, int batchSize, int blockSize, ulong seed, DataShard? shard = null)
    {
        _data = data; _batchSize = batchSize; _blockSize = blockSize;
        _shard = shard ?? DataShard.Whole;
        _shard.CheckDivisible("batch_size", batchSize);
        _rng = new BatchRng(seed);
        _valRng = new BatchRng(ValSeed(seed));
    }

    public long TokensPerBatch => (long)_shard.Per(_batchSize) * _blockSize;

    public int BlockSize => _blockSize;

    /// <summary>The held-out stream's seed for <paramref name="seed"/>, as <see cref="TokenDatasetBatchSource"/> derives it.</summary>
    private static ulong ValSeed(ulong seed) => seed ^ 0x5EED5EED5EED5EEDUL;

    /// <summary>The windows of <paramref name="split"/> in order, as token sequences of T + 0 inputs (what the cache is built over).</summary>
    public IReadOnlyList<long[]> Windows(DataSplit split)
    {
        var s = Split(split);
        long n = s.SequentialWindows(_blockSize);
        var windows = new List<long[]>((int)n);
        for (long w = 0; w < n; w++)
        {
            var ids = new long[_blockSize];
            s.Read(w * _blockSize, ids);
            windows.Add(ids);
        }
        return windows;
    }

    /// <summary>Positions the cache of <paramref name="split"/> must hold: windows × T.</summary>
    public long Positions(DataSplit split) => Split(split).SequentialWindows(_blockSize) * _blockSize;

    public DistillBatch Next(DataSplit split)
    {
        if (split == DataSplit.Val)
        {
            var (vx, vy) = _data.Val.SampleBatch(_batchSize, _blockSize, _valRng);       // (B, T) each
            return new DistillBatch(new CausalLMInput(vx), vy, null);
        }
        long windows = _data.Train.SequentialWindows(_blockSize);
        int per = _shard.Per(_batchSize), first = _shard.Start(_batchSize);
        var offsets = new long[per];
        var rows = new long[per * _blockSize];
        for (int g = 0; g < _batchSize; g++)
        {
            long w = _rng.NextLong(windows);                                          // every rank draws the whole global batch
            int b = g - first;
            if (b < 0 || b >= per) continue;
            offsets[b] = w * _blockSize;
            for (int t = 0; t < _blockSize; t++) rows[b * _blockSize + t] = w * _blockSize + t;
        }
        var (x, y) = _data.Train.Batch(offsets, _blockSize);                         // (B, T), (B, T)
        return new DistillBatch(new CausalLMInput(x), y, rows);
    }

    public void Validate(CausalLM policy)
    {
        if (_data.Train.SequentialWindows(_blockSize) < 1 || _data.Val.SequentialWindows(_blockSize) < 1)
            throw new DataException($"the data has {_data.Train.Length} train and {_data.Val.Length} val tokens; each split needs more than block_size = {_blockSize}");
        if (_data.Meta.VocabSize > policy.VocabSize)
            throw new ConfigException($"the data uses {_data.Meta.VocabSize} token ids but the model's vocabulary has only {policy.VocabSize}");
        if (_blockSize > policy.MaxSequenceLength)
            throw new ConfigException($"block_size {_blockSize} exceeds the model's maximum sequence length {policy.MaxSequenceLength}");
    }

    public void Reseed(DataSplit split, ulong seed)
    {
        if (split == DataSplit.Val) _valRng = new BatchRng(ValSeed(seed));
        else _rng = new BatchRng(seed);
    }

    public string SaveState() => JsonSerializer.Serialize(new[] { _rng.State, _valRng.State });

    public void RestoreState(string state)
    {
        BatchRngState[]? s;
        try { s = JsonSerializer.Deserialize<BatchRngState[]>(state); }
        catch (JsonException) { s = null; }
        if (s is not { Length: 2 }) throw new CheckpointException($"the checkpoint's data state '{state}' is not an aligned-window position");
        _rng.State = s[0];
        _valRng.State = s[1];
    }

    private TokenSplit Split(DataSplit split) => split == DataSplit.Train ? _data.Train : _data.Val;
}

/// <summary>
/// SFT rows (packed or padded, <see cref="SftRows"/>) with the assistant-only targets of <see cref="SftDataset"/>, shuffled per
/// epoch like <see cref="SftObjective"/>; evaluation walks the held-out rows in order. Cache row of sample i, position t: the
/// sum of the lengths of samples 0..i−1 (in the dataset's order) + t; padding has none. With a split shard, every rank walks
/// the same global rows and keeps its B/N of each training batch.
/// </summary>
public sealed class SftDistillData : IDistillData
{
    private readonly DataShard _shard;
    private readonly IReadOnlyList<SftSample> _train, _val;
    private readonly Dictionary<SftSample, long> _trainStart, _valStart;
    private readonly List<(SftRow Row, long[] CacheRows)> _valRows;
    private readonly int _batchSize, _blockSize, _padId;
    private readonly bool _packing;
    private ulong _seed;
    private int _epoch, _cursor, _valCursor;
    private List<(SftRow Row, long[] CacheRows)>? _rows;

    public SftDistillData(IReadOnlyList<SftSample> train, IReadOnlyList<SftSample> val, int batchSize, int blockSize, bool packing, int padId, DataShard? shard = null)
    {
        if (train.Count == 0 || val.Count == 0) throw new DataException("distillation on SFT data needs at least one training and one held-out sample");
        _shard = shard ?? DataShard.Whole;
        _shard.CheckDivisible("batch_size", batchSize);
        _train = train; _val = val; _batchSize = batchSize; _blockSize = blockSize; _packing = packing; _padId = padId;
        _trainStart = Starts(train);
        _valStart = Starts(val);
        _valRows = Rows(val, _valStart);
    }

    public long TokensPerBatch => (long)_shard.Per(_batchSize) * _blockSize;

    public int BlockSize => _blockSize;

    /// <summary>The samples of <paramref name="split"/> in the dataset's order (what the cache is built over).</summary>
    public IReadOnlyList<long[]> Sequences(DataSplit split) => (split == DataSplit.Train ? _train : _val).Select(s => s.Ids.Select(i => (long)i).ToArray()).ToList();

    /// <summary>Positions the cache of <paramref name="split"/> must hold: the samples' total length.</summary>
    public long Positions(DataSplit split) => (split == DataSplit.Train ? _train : _val).Sum(s => (long)s.Length);

    /// <summary>Fingerprint of the encoded samples (ids and targets of train, then val).</summary>
    public string Fingerprint() => TeacherCache.Sha256Tokens(_train.Concat(_val).SelectMany(s => new IReadOnlyList<long>[] { s.Ids.Select(i => (long)i).ToArray(), s.Targets }));

    public DistillBatch Next(DataSplit split)
    {
        var rows = new List<(SftRow Row, long[] CacheRows)>(_batchSize);
        for (int i = 0; i < _batchSize; i++) rows.Add(split == DataSplit.Train ? NextTrainRow() : NextValRow());
        if (split == DataSplit.Train && _shard.IsSplit) rows = _shard.Slice(rows);       // this rank's B/N of the global rows
        var (input, targets) = SftObjective.Batch(rows.Select(r => r.Row).ToList(), CPU, _packing);          // (B, T) each
        return new DistillBatch(input, targets, rows.SelectMany(r => r.CacheRows).ToArray());
    }

    public void Validate(CausalLM policy)
    {
        int maxId = Math.Max(_train.Max(s => s.Ids.Max()), Math.Max(_padId, _val.Max(s => s.Ids.Max())));
        if (maxId >= policy.VocabSize)
            throw new ConfigException($"the SFT data uses token id {maxId} but the model's vocabulary has only {policy.VocabSize} ids");
        if (_blockSize > policy.MaxSequenceLength)
            throw new ConfigException($"block_size {_blockSize} exceeds the model's maximum sequence length {policy.MaxSequenceLength}");
    }

    public void Reseed(DataSplit split, ulong seed)
    {
        if (split == DataSplit.Val) { _valCursor = 0; return; }
        _seed = seed; _epoch = 0; _cursor = 0; _rows = null;
    }

    public string SaveState() => string.Create(CultureInfo.InvariantCulture, $"distill-sft {_seed} {_epoch} {_cursor}");

    public void RestoreState(string state)
    {
        var parts = state.Split(' ');
        if (parts.Length != 4 || parts[0] != "distill-sft" || !ulong.TryParse(parts[1], CultureInfo.InvariantCulture, out var seed)
            || !int.TryParse(parts[2], CultureInfo.InvariantCulture, out var epoch) || !int.TryParse(parts[3], CultureInfo.InvariantCulture, out var cursor))
            throw new CheckpointException($"the checkpoint's data state '{state}' is not an SFT distillation position (distill-sft SEED EPOCH ROW)");
        _seed = seed; _epoch = epoch; _cursor = cursor; _rows = null;
    }

    private (SftRow, long[]) NextTrainRow()
    {
        _rows ??= Rows(SftObjective.Shuffled(_train, _seed, _epoch), _trainStart);
        if (_cursor >= _rows.Count) { _epoch++; _cursor = 0; _rows = Rows(SftObjective.Shuffled(_train, _seed, _epoch), _trainStart); }
        return _rows[_cursor++];
    }

    private (SftRow, long[]) NextValRow()
    {
        if (_valCursor >= _valRows.Count) _valCursor = 0;
        return _valRows[_valCursor++];
    }

    /// <summary>Rows of <paramref name="samples"/> (in that order) and each position's cache row: the segments of each row are the next samples in order.</summary>
    private List<(SftRow, long[])> Rows(IReadOnlyList<SftSample> samples, Dictionary<SftSample, long> starts)
    {
        var rows = SftRows.Build(samples, _blockSize, _packing, _padId);
        var result = new List<(SftRow, long[])>(rows.Count);
        int next = 0;
        foreach (var row in rows)
        {
            var cacheRows = new long[row.Ids.Length];
            long segment = -1, start = 0, offset = 0;
            for (int t = 0; t < row.Ids.Length; t++)
            {
                if (row.Segments[t] < 0) { cacheRows[t] = -1; continue; }
                if (row.Segments[t] != segment) { segment = row.Segments[t]; start = starts[samples[next++]]; offset = 0; }
                cacheRows[t] = start + offset++;
            }
            result.Add((row, cacheRows));
        }
        return result;
    }

    private static Dictionary<SftSample, long> Starts(IReadOnlyList<SftSample> samples)
    {
        var starts = new Dictionary<SftSample, long>(ReferenceEqualityComparer.Instance);
        long at = 0;
        foreach (var s in samples) { starts[s] = at; at += s.Length; }
        return starts;
    }
}
