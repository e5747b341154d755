using System.Text.Json;
using System.Text.Json.Serialization;
using SharpSeek.Checkpoints;
using SharpSeek.Kernels;
using SharpSeek.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using ILearningRateController = TorchSharp.torch.optim.ILearningRateController;

namespace SharpSeek.Distributed;

/// <summary>
/// Slice arithmetic of ZeRO stage 1 (Rajbhandari et al. 2020, §5.1 "P_os"): the trainable parameters of one optimizer
/// group, flattened end to end, are split into N contiguous slices, one per rank.
/// </summary>
public static class ZeroSlices
{
    /// <summary>Rank <paramref name="rank"/>'s slice [Start, Start + Length) of <paramref name="total"/> elements over <paramref name="size"/> ranks: ⌊total/N⌋ each, the first total mod N ranks one more.</summary>
    public static (long Start, long Length) Range(long total, int rank, int size)
    {
        if (size < 1 || rank < 0 || rank >= size) throw new ArgumentOutOfRangeException(nameof(rank), $"rank {rank} of {size}");
        if (total < 0) throw new ArgumentOutOfRangeException(nameof(total), "the element count must not be negative");
        long per = total / size, extra = total % size;
        return (rank * per + Math.Min(rank, extra), per + (rank < extra ? 1 : 0));
    }

    /// <summary>[start, start + length) ∩ [otherStart, otherStart + otherLength) as (Start, Length); Length 0 when they do not meet.</summary>
    public static (long Start, long Length) Overlap(long start, long length, long otherStart, long otherLength)
    {
        long a = Math.Max(start, otherStart), b = Math.Min(start + length, otherStart + otherLength);
        return b > a ? (a, b - a) : (a, 0);
    }

    /// <summary>
    /// The parts of tensors of <paramref name="sizes"/> elements (laid end to end) that fall in [start, start + length):
    /// (Index of the tensor, Offset inside it, Length, At: position in the flat range), in order.
    /// </summary>
    public static IReadOnlyList<(int Index, long Offset, long Length, long At)> Pieces(IReadOnlyList<long> sizes, long start, long length)
    {
        var pieces = new List<(int, long, long, long)>();
        long at = 0;
        for (int i = 0; i < sizes.Count; i++)
        {
            var (s, n) = Overlap(at, sizes[i], start, length);
            if (n > 0) pieces.Add((i, s - at, n, s));
            at += sizes[i];
        }
        return pieces;
    }

    /// <summary>
    /// MPI_Allgatherv's counts and displacements for the window [windowStart, windowStart + windowLength) of a group of
    /// <paramref name="total"/> elements: rank r contributes its slice's part of the window, at its place in the window.
    /// </summary>
    public static (long[] Counts, long[] Displacements) WindowParts(long total, int size, long windowStart, long windowLength)
    {
        var counts = new long[size];
        var displacements = new long[size];
        for (int r = 0; r < size; r++)
        {
            var (s, n) = Range(total, r, size);
            var (o, m) = Overlap(s, n, windowStart, windowLength);
            counts[r] = m;
            displacements[r] = m > 0 ? o - windowStart : 0;
        }
        return (counts, displacements);
    }
}

/// <summary>The manifest of a ZeRO-1 checkpoint's optimizer shards (<see cref="ZeroCheckpoint.ManifestFile"/>).</summary>
public sealed record ZeroManifest
{
    [JsonPropertyName("format")] public string Format { get; init; } = ZeroCheckpoint.Format;
    [JsonPropertyName("shard_count")] public int ShardCount { get; init; }
    /// <summary>The optimizer groups in order (decay, no_decay).</summary>
    [JsonPropertyName("groups")] public IReadOnlyList<ZeroGroupInfo> Groups { get; init; } = [];
    [JsonPropertyName("shards")] public IReadOnlyList<ZeroShardInfo> Shards { get; init; } = [];
}

/// <summary>One optimizer group: its flattened element count and the AdamW step count of each of its parameters.</summary>
public sealed record ZeroGroupInfo
{
    [JsonPropertyName("name")] public string Name { get; init; } = "";
    [JsonPropertyName("total")] public long Total { get; init; }
    [JsonPropertyName("param_steps")] public IReadOnlyList<long> ParamSteps { get; init; } = [];
}

/// <summary>One shard file and, per group, the [start, start + length) of the flattened group it holds.</summary>
public sealed record ZeroShardInfo
{
    [JsonPropertyName("file")] public string File { get; init; } = "";
    [JsonPropertyName("starts")] public IReadOnlyList<long> Starts { get; init; } = [];
    [JsonPropertyName("lengths")] public IReadOnlyList<long> Lengths { get; init; } = [];
}

/// <summary>
/// The sharded optimizer state of a ZeRO-1 checkpoint: <see cref="ManifestFile"/> plus one safetensors file per rank with
/// the flat AdamW moments of its slice of each group (<c>decay.exp_avg</c>, <c>decay.exp_avg_sq</c>, <c>no_decay.…</c>;
/// an empty slice has no tensor). Any run re-shards them on load: another rank count, or one process without ZeRO.
/// </summary>
public static class ZeroCheckpoint
{
    public const string ManifestFile = "optimizer_shards.json";
    public const string Format = "sharpseek-zero1";
    public static readonly string[] GroupNames = ["decay", "no_decay"];

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static string ShardFile(int rank, int count) => $"optimizer-shard-{rank:D5}-of-{count:D5}.safetensors";

    public static string MomentName(string group, bool squared) => $"{group}.{(squared ? "exp_avg_sq" : "exp_avg")}";

    /// <summary>
    /// Writes a safetensors file of 1-D fp32 <paramref name="tensors"/> whose data <paramref name="writeData"/> streams in
    /// that order (so no tensor needs to be in memory whole); the reader is <see cref="SafeTensorsFile"/>.
    /// </summary>
    public static void WriteShard(string path, IReadOnlyList<(string Name, long Length)> tensors, Action<Stream> writeData)
    {
        using var header = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            long offset = 0;
            foreach (var (name, length) in tensors)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", nameof(SafeTensorDType.F32));
                w.WriteStartArray("shape"); w.WriteNumberValue(length); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(offset); w.WriteNumberValue(offset + length * sizeof(float)); w.WriteEndArray();
                w.WriteEndObject();
                offset += length * sizeof(float);
            }
            w.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');
        using var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        fs.Write(BitConverter.GetBytes((ulong)header.Length));
        header.Position = 0;
        header.CopyTo(fs);
        long start = fs.Position;
        writeData(fs);
        long expected = tensors.Sum(t => t.Length) * sizeof(float);
        if (fs.Position - start != expected) throw new InvalidOperationException($"{path}: wrote {fs.Position - start} data bytes, the header says {expected}");
        fs.Flush(flushToDisk: true);
    }

    /// <summary>True when <paramref name="dir"/> holds sharded optimizer state.</summary>
    public static bool IsSharded(string dir) => File.Exists(Path.Combine(dir, ManifestFile));

    /// <summary>The manifest of <paramref name="dir"/> after checking that every shard file it names exists; throws <see cref="CheckpointException"/> naming the problem.</summary>
    public static ZeroManifest ReadManifest(string dir)
    {
        string path = Path.Combine(dir, ManifestFile);
        ZeroManifest manifest;
        try { manifest = JsonSerializer.Deserialize<ZeroManifest>(File.ReadAllText(path)) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new CheckpointException($"{path}: corrupt optimizer shard manifest ({e.Message})"); }
        if (manifest.Format != Format) throw new CheckpointException($"{path}: format '{manifest.Format}', expected '{Format}'");
        if (manifest.ShardCount < 1 || manifest.Shards.Count != manifest.ShardCount)
            throw new CheckpointException($"{path}: shard_count {manifest.ShardCount} but {manifest.Shards.Count} shards listed");
        foreach (var shard in manifest.Shards)
            if (!File.Exists(Path.Combine(dir, shard.File)))
                throw new CheckpointException($"{dir}: optimizer shard file {shard.File} is missing (1 of {manifest.ShardCount}); the sharded optimizer state cannot be re-sharded");
        return manifest;
    }

    /// <summary>
    /// Throws <see cref="CheckpointException"/> unless the shards of <paramref name="manifest"/> cover each group of
    /// <paramref name="totals"/> elements (this model's) end to end and each shard file holds exactly its ranges.
    /// </summary>
    public static void CheckResharable(string dir, ZeroManifest manifest, IReadOnlyList<long> totals, IReadOnlyList<int> paramCounts)
    {
        string where = Path.Combine(dir, ManifestFile);
        if (manifest.Groups.Count != totals.Count)
            throw new CheckpointException($"{where}: {manifest.Groups.Count} optimizer groups, this model has {totals.Count}");
        long saved = manifest.Groups.Sum(g => g.Total), expected = totals.Sum();
        for (int g = 0; g < totals.Count; g++)
        {
            var info = manifest.Groups[g];
            if (info.Total != totals[g] || saved != expected)
                throw new CheckpointException($"{where}: the optimizer shards hold {saved:N0} elements ({info.Name} group {info.Total:N0}), " +
                                              $"this model has {expected:N0} trainable ({GroupNames[g]} group {totals[g]:N0}); a different model");
            if (info.ParamSteps.Count != paramCounts[g])
                throw new CheckpointException($"{where}: {info.ParamSteps.Count} step counts in the {info.Name} group, this model has {paramCounts[g]} parameters there");
        }
        for (int g = 0; g < totals.Count; g++)
        {
            long next = 0;
            foreach (var shard in manifest.Shards)
            {
                if (shard.Starts.Count != totals.Count || shard.Lengths.Count != totals.Count)
                    throw new CheckpointException($"{where}: shard {shard.File} lists {shard.Starts.Count} ranges, expected {totals.Count}");
                if (shard.Starts[g] != next || shard.Lengths[g] < 0)
                    throw new CheckpointException($"{where}: shard {shard.File} starts the {GroupNames[g]} group at {shard.Starts[g]:N0}, expected {next:N0}; the shards do not add up");
                next += shard.Lengths[g];
            }
            if (next != totals[g])
                throw new CheckpointException($"{where}: the shards hold {next:N0} elements of the {GroupNames[g]} group, this model has {totals[g]:N0}; the shards do not add up");
        }
        foreach (var shard in manifest.Shards)
        {
            string path = Path.Combine(dir, shard.File);
            SafeTensorsFile file;
            try { file = SafeTensorsFile.Open(path); }
            catch (Exception e) when (e is not OutOfMemoryException) { throw new CheckpointException($"{path}: corrupt optimizer shard ({e.Message})"); }
            using (file)
                for (int g = 0; g < totals.Count; g++)
                    foreach (bool squared in new[] { false, true })
                    {
                        string name = MomentName(GroupNames[g], squared);
                        long have = file.Tensors.TryGetValue(name, out var info) ? info.ElementCount : 0;
                        if (have != shard.Lengths[g] || (info is not null && info.DType != SafeTensorDType.F32))
                            throw new CheckpointException($"{path}: {name} holds {have:N0} elements, the manifest says {shard.Lengths[g]:N0}");
                    }
        }
    }

    /// <summary>
    /// Calls <paramref name="copy"/>(position in the group, moment chunk, squared) for every part of group <paramref name="g"/>'s
    /// saved moments inside [start, start + length), reading only the shard files that overlap it, one at a time.
    /// </summary>
    public static void ReadRange(string dir, ZeroManifest manifest, int g, long start, long length, Action<long, Tensor, bool> copy)
    {
        foreach (var shard in manifest.Shards)
        {
            var (s, n) = ZeroSlices.Overlap(shard.Starts[g], shard.Lengths[g], start, length);
            if (n == 0) continue;
            using var file = SafeTensorsFile.Open(Path.Combine(dir, shard.File));
            foreach (bool squared in new[] { false, true })
            {
                using var scope = NewDisposeScope();
                var moment = file.Load(MomentName(GroupNames[g], squared));                    // (shard length,)
                copy(s, moment.narrow(0, s - shard.Starts[g], n), squared);
            }
        }
    }

    /// <summary>
    /// Loads sharded state into an unsharded <see cref="AdamW"/> (any implementation with TorchSharp's state): validated
    /// against its groups first, then each shard file in turn is scattered into the per-parameter moments.
    /// </summary>
    public static void LoadInto(AdamW optimizer, string dir)
    {
        var manifest = ReadManifest(dir);
        var groups = optimizer.ParamGroups.Cast<TorchSharp.Modules.ParamGroup>().Select(g => g.Parameters.ToList()).ToList();
        var states = optimizer.state_dict().State.Cast<AdamW.State>().ToList();                 // parameters in group order
        CheckResharable(dir, manifest, groups.Select(g => g.Sum(p => p.numel())).ToList(), groups.Select(g => g.Count).ToList());
        int first = 0;
        using var _ = no_grad();
        for (int g = 0; g < groups.Count; g++)
        {
            var sizes = groups[g].Select(p => p.numel()).ToList();
            ReadRange(dir, manifest, g, 0, sizes.Sum(), (at, chunk, squared) =>
            {
                foreach (var (i, offset, n, pos) in ZeroSlices.Pieces(sizes, at, chunk.numel()))
                {
                    var state = states[first + i];
                    (squared ? state.exp_avg_sq : state.exp_avg).view(-1).narrow(0, offset, n).copy_(chunk.narrow(0, pos - at, n));
                }
            });
            for (int i = 0; i < sizes.Count; i++) states[first + i].step = manifest.Groups[g].ParamSteps[i];
            first += sizes.Count;
        }
    }
}

/// <summary>
/// ZeRO stage 1 (Rajbhandari et al. 2020, §5.1): every rank keeps the AdamW moments of its contiguous 1/N slice of each
/// flattened parameter group only, steps that slice with <see cref="FusedAdamW"/> (the unsharded run's arithmetic, element by
/// element: the slices are views of the weights, one AdamW parameter per piece of a weight) and all-gathers the updated
/// slices (MPI_Allgatherv in windows of ≤ 25 MiB) so every rank holds the same full weights. The gradients must already be
/// averaged (and clipped) on every rank. Checkpoints: rank 0 streams every rank's moments, chunk by chunk, into one shard
/// file per rank (<see cref="ZeroCheckpoint"/>).
/// </summary>
public sealed class ZeroOptimizer : OptimizerHelper
{
    private sealed class Group
    {
        public required string Name { get; init; }
        public required IReadOnlyList<Parameter> Params { get; init; }
        public required IReadOnlyList<long> Sizes { get; init; }
        public required long Total { get; init; }
        public required long Start { get; init; }        // this rank's slice [Start, Start + Length)
        public required long Length { get; init; }
        public required List<(int Index, long Offset, long At, Parameter Piece)> Pieces { get; init; }
        public required long[] Steps { get; init; }       // AdamW step count of each parameter (every rank tracks all)
    }

    private readonly IDataParallel _parallel;
    private readonly Group[] _groups;
    private readonly FusedAdamW _inner;
    private readonly ParamGroups _full;
    private readonly TrainConfig _config;

    /// <summary>Largest all-gather window in elements (default: one 25 MiB fp32 bucket).</summary>
    public long WindowElements { get; init; } = GradientBuckets.DefaultCapBytes / sizeof(float);

    /// <summary>Bytes of the AdamW moments this rank holds (exp_avg and exp_avg_sq of its slices).</summary>
    public long StateBytes { get; }

    /// <summary>Bytes the moments take unsharded (what every rank held without ZeRO).</summary>
    public long UnshardedStateBytes { get; }

    /// <summary>Number of ranks the state is sharded over.</summary>
    public int Size => _parallel.Size;

    /// <summary>AdamW over this rank's slices of <paramref name="groups"/> (decay and no-decay groups of <paramref name="config"/>).</summary>
    public ZeroOptimizer(ParamGroups groups, TrainConfig config, IDataParallel parallel)
    {
        _parallel = parallel; _full = groups; _config = config;
        _parameter_groups = new List<TorchSharp.Modules.ParamGroup>();
        var lists = new[] { groups.Decay.Select(x => x.Param).ToList(), groups.NoDecay.Select(x => x.Param).ToList() };
        _groups = new Group[lists.Length];
        using (no_grad())
            for (int g = 0; g < lists.Length; g++)
            {
                var sizes = lists[g].Select(p => p.numel()).ToList();
                long total = sizes.Sum();
                var (start, length) = ZeroSlices.Range(total, parallel.Rank, parallel.Size);
                var pieces = new List<(int, long, long, Parameter)>();
                foreach (var (i, offset, n, at) in ZeroSlices.Pieces(sizes, start, length))
                {
                    var p = lists[g][i];
                    if (!p.is_contiguous()) throw new InvalidOperationException($"ZeRO-1 needs contiguous parameters; parameter {i} of the {ZeroCheckpoint.GroupNames[g]} group is not");
                    using var flat = p.detach().view(-1);
                    using var view = flat.narrow(0, offset, n);
                    pieces.Add((i, offset, at, new Parameter(view, requires_grad: true)));   // shares the weight's storage
                }
                _groups[g] = new Group
                {
                    Name = ZeroCheckpoint.GroupNames[g], Params = lists[g], Sizes = sizes, Total = total, Start = start, Length = length,
                    Pieces = pieces, Steps = new long[sizes.Count],
                };
            }
        var adamGroups = new List<AdamW.ParamGroup>
        {
            new(_groups[0].Pieces.Select(x => x.Piece), new AdamW.Options { LearningRate = config.Lr, beta1 = config.Beta1, beta2 = config.Beta2, eps = config.Eps, weight_decay = config.WeightDecay }),
            new(_groups[1].Pieces.Select(x => x.Piece), new AdamW.Options { LearningRate = config.Lr, beta1 = config.Beta1, beta2 = config.Beta2, eps = config.Eps, weight_decay = 0 }),
        };
        _inner = new FusedAdamW(adamGroups, config.Lr, config.Beta1, config.Beta2, config.Eps, config.WeightDecay);
        StateBytes = MomentBytes(_inner);
        UnshardedStateBytes = 2L * sizeof(float) * _groups.Sum(g => g.Total);
    }

    /// <summary>Bytes of the exp_avg and exp_avg_sq tensors <paramref name="optimizer"/> holds.</summary>
    public static long MomentBytes(AdamW optimizer) =>
        optimizer.state_dict().State.Cast<AdamW.State>().Sum(s => s.exp_avg.numel() * s.exp_avg.ElementSize + s.exp_avg_sq.numel() * s.exp_avg_sq.ElementSize);

    /// <summary>The learning rate of each group (set by the trainer every step).</summary>
    public override IEnumerable<ILearningRateController> ParamGroups => _inner.ParamGroups;

    /// <summary>Steps this rank's slices with the (averaged, clipped) gradients, then all-gathers every rank's updated slices.</summary>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        if (closure is not null) throw new NotSupportedException("ZeRO-1 takes no closure");
        using (no_grad())
        {
            foreach (var g in _groups)
            {
                for (int i = 0; i < g.Params.Count; i++)
                {
                    using var grad = g.Params[i].grad;
                    if (grad is not null) g.Steps[i]++;                                  // AdamW skips a parameter without one
                }
                foreach (var (i, offset, _, piece) in g.Pieces)
                {
                    using var grad = g.Params[i].grad;
                    if (grad is null) { piece.grad = null; continue; }
                    using var flat = grad.view(-1);
                    using var part = flat.narrow(0, offset, piece.numel());
                    piece.grad = part;                                                   // a view: no copy
                }
            }
            _inner.step();
            foreach (var g in _groups) AllGather(g);
        }
        return null!;
    }

    /// <summary>Zeroes the gradients of every trainable parameter (not only this rank's slices).</summary>
    public override void zero_grad()
    {
        foreach (var g in _groups)
            foreach (var p in g.Params)
            {
                using var grad = p.grad;
                grad?.zero_();
            }
    }

    public override StateDictionary state_dict() =>
        throw new NotSupportedException("ZeRO-1 optimizer state is sharded over the ranks; checkpoints write it with SaveShards");

    // Every rank's slice of the window into one fp32 buffer (this rank's part copied in first), then back into the weights.
    private void AllGather(Group g)
    {
        if (_parallel.Size == 1) return;
        for (long w0 = 0; w0 < g.Total; w0 += WindowElements)
        {
            using var scope = NewDisposeScope();
            long wLen = Math.Min(WindowElements, g.Total - w0);
            var buffer = empty(wLen, ScalarType.Float32);                                    // (window,)
            foreach (var (_, _, at, piece) in g.Pieces)
            {
                var (s, n) = ZeroSlices.Overlap(at, piece.numel(), w0, wLen);
                if (n > 0) buffer.narrow(0, s - w0, n).copy_(piece.narrow(0, s - at, n));
            }
            var (counts, displacements) = ZeroSlices.WindowParts(g.Total, _parallel.Size, w0, wLen);
            _parallel.AllGather(buffer, counts, displacements);
            foreach (var (i, offset, n, at) in ZeroSlices.Pieces(g.Sizes, w0, wLen))
                g.Params[i].detach().view(-1).narrow(0, offset, n).copy_(buffer.narrow(0, at - w0, n));
        }
    }

    /// <summary>Copies of this rank's moments of group <paramref name="group"/> (0 decay, 1 no decay), flat over its slice.</summary>
    public (Tensor ExpAvg, Tensor ExpAvgSq) Moments(int group) => SliceMoments(_groups[group]);

    private (Tensor ExpAvg, Tensor ExpAvgSq) SliceMoments(Group g)
    {
        var states = _inner.state_dict().State.Cast<AdamW.State>().ToList();
        int first = g == _groups[0] ? 0 : _groups[0].Pieces.Count;
        if (g.Pieces.Count == 0) return (empty(0, ScalarType.Float32), empty(0, ScalarType.Float32));
        var m = cat(Enumerable.Range(first, g.Pieces.Count).Select(k => states[k].exp_avg.view(-1)).ToList(), 0);
        var v = cat(Enumerable.Range(first, g.Pieces.Count).Select(k => states[k].exp_avg_sq.view(-1)).ToList(), 0);
        return (m, v);
    }

    /// <summary>Elements of one message of the checkpoint gathering (4 MiB of fp32): what rank 0 holds of another rank's slice at a time.</summary>
    public long GatherChunkElements { get; init; } = 1L << 20;

    // This rank's flat moments of group g in chunks of ≤ GatherChunkElements, copied out of its pieces into one reused buffer.
    private void ForEachChunk(Group g, bool squared, Tensor buffer, Action<Tensor> use)
    {
        var states = _inner.state_dict().State.Cast<AdamW.State>().ToList();
        int first = g == _groups[0] ? 0 : _groups[0].Pieces.Count;
        var sizes = g.Pieces.Select(x => x.Piece.numel()).ToList();
        for (long c0 = 0; c0 < g.Length; c0 += GatherChunkElements)
        {
            long n = Math.Min(GatherChunkElements, g.Length - c0);
            using var chunk = buffer.narrow(0, 0, n);
            foreach (var (k, offset, len, at) in ZeroSlices.Pieces(sizes, c0, n))
            {
                var state = states[first + k];
                using var source = (squared ? state.exp_avg_sq : state.exp_avg).narrow(0, offset, len);
                using var target = chunk.narrow(0, at - c0, len);
                target.copy_(source);
            }
            use(chunk);
        }
    }

    /// <summary>Rank ≠ 0's half of <see cref="SaveShards"/>: sends this rank's moments to rank 0, chunk by chunk.</summary>
    public void SendShardsToRoot()
    {
        if (_parallel.IsRoot) throw new InvalidOperationException("rank 0 writes the shards with SaveShards");
        using var buffer = empty(Math.Min(GatherChunkElements, Math.Max(1, _groups.Max(g => g.Length))), ScalarType.Float32);
        foreach (var g in _groups)
            foreach (bool squared in new[] { false, true })
                ForEachChunk(g, squared, buffer, chunk => _parallel.Send(chunk, 0));
    }

    /// <summary>
    /// Rank 0: writes one shard file per rank and the manifest into <paramref name="dir"/>. Its own moments are streamed
    /// from its slices; every other rank's arrive in chunks of <see cref="GatherChunkElements"/> that go straight to the file,
    /// so rank 0 never holds more than its own state and one chunk. Every other rank calls <see cref="SendShardsToRoot"/>
    /// at the same time. <paramref name="written"/> is called with each file written.
    /// </summary>
    public void SaveShards(string dir, Action<string>? written = null)
    {
        if (!_parallel.IsRoot) throw new InvalidOperationException("only rank 0 writes checkpoints");
        int n = _parallel.Size;
        var shards = new List<ZeroShardInfo>();
        using var buffer = empty(Math.Min(GatherChunkElements, Math.Max(1, _groups.Max(g => ZeroSlices.Range(g.Total, 0, n).Length))), ScalarType.Float32);
        for (int r = 0; r < n; r++)
        {
            var ranges = _groups.Select(g => ZeroSlices.Range(g.Total, r, n)).ToList();
            var tensors = new List<(string Name, long Length)>();
            for (int g = 0; g < _groups.Length; g++)
                foreach (bool squared in new[] { false, true })
                    if (ranges[g].Length > 0) tensors.Add((ZeroCheckpoint.MomentName(_groups[g].Name, squared), ranges[g].Length));
            string file = ZeroCheckpoint.ShardFile(r, n);
            ZeroCheckpoint.WriteShard(Path.Combine(dir, file), tensors, stream =>
            {
                for (int g = 0; g < _groups.Length; g++)
                    foreach (bool squared in new[] { false, true })
                    {
                        if (r == 0) { ForEachChunk(_groups[g], squared, buffer, chunk => stream.Write(chunk.bytes)); continue; }
                        for (long c0 = 0; c0 < ranges[g].Length; c0 += GatherChunkElements)
                        {
                            using var chunk = buffer.narrow(0, 0, Math.Min(GatherChunkElements, ranges[g].Length - c0));
                            _parallel.Receive(chunk, r);
                            stream.Write(chunk.bytes);
                        }
                    }
            });
            written?.Invoke(Path.Combine(dir, file));
            shards.Add(new ZeroShardInfo { File = file, Starts = ranges.Select(x => x.Start).ToList(), Lengths = ranges.Select(x => x.Length).ToList() });
        }
        var manifest = new ZeroManifest
        {
            ShardCount = n, Shards = shards,
            Groups = _groups.Select(g => new ZeroGroupInfo { Name = g.Name, Total = g.Total, ParamSteps = g.Steps.ToArray() }).ToList(),
        };
        string path = Path.Combine(dir, ZeroCheckpoint.ManifestFile);
        File.WriteAllText(path, JsonSerializer.Serialize(manifest, new JsonSerializerOptions { WriteIndented = true }));
        written?.Invoke(path);
    }

    /// <summary>Loads this rank's slices from the shards of <paramref name="dir"/> (any shard count); validated first.</summary>
    public void LoadShards(string dir)
    {
        var manifest = ZeroCheckpoint.ReadManifest(dir);
        ZeroCheckpoint.CheckResharable(dir, manifest, _groups.Select(g => g.Total).ToList(), _groups.Select(g => g.Params.Count).ToList());
        var states = _inner.state_dict().State.Cast<AdamW.State>().ToList();
        int first = 0;
        using var _ = no_grad();
        for (int gi = 0; gi < _groups.Length; gi++)
        {
            var g = _groups[gi];
            var pieceSizes = g.Pieces.Select(x => x.Piece.numel()).ToList();
            int offsetInStates = first;
            ZeroCheckpoint.ReadRange(dir, manifest, gi, g.Start, g.Length, (at, chunk, squared) =>
            {
                foreach (var (k, offset, n, pos) in ZeroSlices.Pieces(pieceSizes, at - g.Start, chunk.numel()))
                {
                    var state = states[offsetInStates + k];
                    (squared ? state.exp_avg_sq : state.exp_avg).narrow(0, offset, n).copy_(chunk.narrow(0, pos - (at - g.Start), n));
                }
            });
            manifest.Groups[gi].ParamSteps.ToArray().CopyTo(g.Steps, 0);
            for (int k = 0; k < g.Pieces.Count; k++) states[first + k].step = g.Steps[g.Pieces[k].Index];
            first += g.Pieces.Count;
        }
    }

    /// <summary>
    /// Loads this rank's slices from an unsharded optimizer file (a run without ZeRO): read whole into a temporary AdamW
    /// (so this rank holds the full state briefly), sliced, and released.
    /// </summary>
    public void LoadUnsharded(string path)
    {
        using var full = (FusedAdamW)_full.CreateAdamW(_config);
        full.LoadStateFrom(path);
        var fullStates = full.state_dict().State.Cast<AdamW.State>().ToList();
        var states = _inner.state_dict().State.Cast<AdamW.State>().ToList();
        int firstFull = 0, first = 0;
        using var _ = no_grad();
        foreach (var g in _groups)
        {
            for (int i = 0; i < g.Params.Count; i++) g.Steps[i] = fullStates[firstFull + i].step;
            for (int k = 0; k < g.Pieces.Count; k++)
            {
                var (i, offset, _, piece) = g.Pieces[k];
                var source = fullStates[firstFull + i];
                states[first + k].exp_avg.copy_(source.exp_avg.view(-1).narrow(0, offset, piece.numel()));
                states[first + k].exp_avg_sq.copy_(source.exp_avg_sq.view(-1).narrow(0, offset, piece.numel()));
                states[first + k].step = source.step;
            }
            firstFull += g.Params.Count; first += g.Pieces.Count;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            foreach (var g in _groups) foreach (var (_, _, _, piece) in g.Pieces) piece.Dispose();
        }
        base.Dispose(disposing);
    }
}
