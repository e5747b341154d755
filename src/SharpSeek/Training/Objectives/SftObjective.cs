using System.Globalization;
using SharpSeek.Data;
using SharpSeek.Data.Chat;
using SharpSeek.Distributed;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// Supervised fine-tuning on chat samples (Ouyang et al. 2022 §3.5; TRL's SFTTrainer with assistant-only loss): the
/// <see cref="LanguageModelObjective"/> loss (next-token CE + MTP + MoE balance terms) over rows whose prompt and padding
/// positions have target <see cref="LanguageModelLoss.IgnoreIndex"/>, so only assistant tokens (and their end-of-turn)
/// are learned. Rows are packed (several samples per row, attention and positions restarting per sample through
/// <see cref="CausalLMInput.SegmentIds"/>) or one right-padded sample each (no mask needed: causal attention never sees
/// the padding on the right). Training walks the samples in a fresh shuffle per epoch; evaluation walks the held-out
/// rows in order (the masked CE of the main head: val_loss). Metric "supervised": supervised tokens per micro-batch.
/// DeepSeek's sequence-wise balance loss (when aux_loss_alpha &gt; 0) sees a packed row as one sequence.
/// Data parallel (<see cref="Shard"/>): every rank walks the same global rows and trains on its B/N of each batch; the loss is
/// a mean over supervised tokens, whose count differs between ranks, so each step carries it as its
/// <see cref="ObjectiveStep.Weight"/>.
/// </summary>
public sealed class SftObjective : IObjective
{
    private readonly IReadOnlyList<SftSample> _train;
    private readonly List<SftRow> _valRows;
    private readonly int _batchSize, _blockSize, _padId;
    private readonly bool _packing;
    private ulong _seed;
    private int _epoch, _cursor, _valCursor;
    private List<SftRow>? _rows;                      // the current epoch's training rows
    private readonly DataShard _shard = DataShard.Whole;

    /// <param name="train">Training samples, each at most <paramref name="blockSize"/> tokens.</param>
    /// <param name="val">Held-out samples.</param>
    /// <param name="batchSize">Rows per micro-batch (B).</param>
    /// <param name="blockSize">Tokens per row (T).</param>
    /// <param name="packing">Several samples per row (true) or one right-padded sample per row.</param>
    /// <param name="padId">Id of padding positions (their targets are ignored).</param>
    public SftObjective(IReadOnlyList<SftSample> train, IReadOnlyList<SftSample> val, int batchSize, int blockSize, bool packing, int padId)
    {
        if (train.Count == 0 || val.Count == 0) throw new DataException("SFT needs at least one training and one held-out sample");
        _train = train; _batchSize = batchSize; _blockSize = blockSize; _packing = packing; _padId = padId;
        _valRows = SftRows.Build(val, blockSize, packing, padId);
    }

    /// <summary>The samples of <paramref name="data"/> in rows of the config's batch and block size.</summary>
    public SftObjective(SftDataset data, int batchSize, int blockSize, bool packing, int padId)
        : this(data.Train, data.Val, batchSize, blockSize, packing, padId) { }

    public IReadOnlyList<CausalLM> FrozenModels => [];

    /// <summary>This process's share of every training batch (default: all of it); batch_size must split evenly (<see cref="ConfigException"/>).</summary>
    public DataShard Shard
    {
        get => _shard;
        init { value.CheckDivisible("batch_size", _batchSize); _shard = value; }
    }

    /// <summary>Rows of the current training epoch (for tests and the log).</summary>
    public int TrainRowsPerEpoch => Rows.Count;

    /// <summary>Held-out rows; an evaluation reads eval_iters × batch_size of them from the first, wrapping around.</summary>
    public int ValRows => _valRows.Count;

    public void Validate(CausalLM policy)
    {
        int maxId = Math.Max(_train.Max(s => s.Ids.Max()), Math.Max(_padId, _valRows.Max(r => (int)r.Ids.Max())));
        if (maxId >= policy.VocabSize)
            throw new ConfigException($"the SFT data uses token id {maxId} but the model's vocabulary has only {policy.VocabSize} ids");
        if (_blockSize > policy.MaxSequenceLength)
            throw new ConfigException($"block_size {_blockSize} exceeds the model's maximum sequence length {policy.MaxSequenceLength}");
    }

    public ObjectiveStep Step(CausalLM policy, DataSplit split, StepMode mode)
    {
        var rows = new List<SftRow>(_batchSize);
        for (int i = 0; i < _batchSize; i++) rows.Add(split == DataSplit.Train ? NextTrainRow() : NextValRow());
        int ranks = 1;
        if (split == DataSplit.Train && _shard.IsSplit) { rows = _shard.Slice(rows); ranks = _shard.Size; }   // this rank's B/N of the global rows
        var (input, targets) = Batch(rows, policy.Device, _packing);                       // (B, T) each
        long tokens = (long)rows.Count * _blockSize;
        double supervised = rows.Sum(r => r.Supervised);
        var metrics = new Dictionary<string, double> { ["supervised"] = supervised * ranks };   // the ranks' mean is the global batch's count
        if (mode == StepMode.Eval) return new ObjectiveStep(MaskedCrossEntropy(policy, input, targets), metrics, tokens);
        return new ObjectiveStep(LanguageModelObjective.Loss(policy, input, targets, metrics), metrics, tokens) { Weight = supervised };
    }

    /// <summary>The forward input of <paramref name="rows"/> (ids, and segment ids when packed) and their targets (B, T).</summary>
    public static (CausalLMInput Input, Tensor Targets) Batch(IReadOnlyList<SftRow> rows, Device device, bool packed)
    {
        long b = rows.Count, t = rows[0].Ids.Length;
        var ids = tensor(rows.SelectMany(r => r.Ids).ToArray(), [b, t], device: device);                 // (B, T)
        var targets = tensor(rows.SelectMany(r => r.Targets).ToArray(), [b, t], device: device);         // (B, T)
        var segments = packed ? tensor(rows.SelectMany(r => r.Segments).ToArray(), [b, t], device: device) : null;   // (B, T)
        return (new CausalLMInput(ids) { SegmentIds = segments }, targets);
    }

    /// <summary>Mean CE of the main head over the supervised targets of <paramref name="targets"/> (B, T): the validation loss.</summary>
    public static Tensor MaskedCrossEntropy(CausalLM model, CausalLMInput input, Tensor targets)
    {
        using var scope = NewDisposeScope();
        using var output = model.call(input);
        var logits = output.Logits!;                                                                       // (B, T, V)
        return LanguageModelLoss.CrossEntropy(logits.reshape(-1, logits.shape[^1]), targets.reshape(-1)).MoveToOuterDisposeScope();
    }

    public void Reseed(DataSplit split, ulong seed)
    {
        if (split == DataSplit.Val) { _valCursor = 0; return; }
        _seed = seed; _epoch = 0; _cursor = 0; _rows = null;
    }

    public string SaveState() => string.Create(CultureInfo.InvariantCulture, $"sft {_seed} {_epoch} {_cursor}");

    public void RestoreState(string state)
    {
        var parts = state.Split(' ');
        if (parts.Length != 4 || parts[0] != "sft" || !ulong.TryParse(parts[1], CultureInfo.InvariantCulture, out var seed)
            || !int.TryParse(parts[2], CultureInfo.InvariantCulture, out var epoch) || !int.TryParse(parts[3], CultureInfo.InvariantCulture, out var cursor))
            throw new CheckpointException($"the checkpoint's data state '{state}' is not an SFT position (sft SEED EPOCH ROW)");
        _seed = seed; _epoch = epoch; _cursor = cursor; _rows = null;
    }

    private List<SftRow> Rows => _rows ??= SftRows.Build(Shuffled(_train, _seed, _epoch), _blockSize, _packing, _padId);

    private SftRow NextTrainRow()
    {
        if (_cursor >= Rows.Count) { _epoch++; _cursor = 0; _rows = null; }
        return Rows[_cursor++];
    }

    private SftRow NextValRow()
    {
        if (_valCursor >= _valRows.Count) _valCursor = 0;
        return _valRows[_valCursor++];
    }

    /// <summary>The samples in epoch <paramref name="epoch"/>'s order: a Fisher–Yates shuffle seeded by (seed, epoch).</summary>
    public static IReadOnlyList<SftSample> Shuffled(IReadOnlyList<SftSample> samples, ulong seed, int epoch)
    {
        var order = samples.ToArray();
        var rng = new SplitMix64(seed ^ (0x9E3779B97F4A7C15UL * (ulong)(epoch + 1)));
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)rng.NextLong(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
