using SharpSeek.Checkpoints;
using SharpSeek.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Offload;

/// <summary>
/// One model tensor and its source: the checkpoint tensor <see cref="CheckpointName"/>, stored transposed or not
/// (GPT-2's Conv1D weights are [in, out]), for the model tensor <see cref="Target"/> called <see cref="Name"/>.
/// </summary>
public sealed record OffloadTensor(string Name, string CheckpointName, bool Transposed, Tensor Target);

/// <summary>A model loaded with a <see cref="DeviceMap"/>: its offload state (null when loaded fully resident).</summary>
public interface IOffloadedModel
{
    LayerOffload? Offload { get; }
}

/// <summary>
/// The weights of a model's layers mapped to disk (Accelerate's "disk offload"): between forwards every parameter of such a
/// layer holds an empty tensor; <see cref="Enter"/> reads the layer's tensors from the checkpoint's safetensors file into
/// them just before the layer runs, and disposing what it returns empties them again right after. The other tensors (the
/// resident parts and the layers mapped to cpu) are read once by <see cref="Load"/>. The family's forward brackets each
/// layer with <c>using (offload?.Enter(i))</c>; nothing else changes, so the KV cache, generation and every attention
/// path (MLA's absorbed kv_b_proj, MoE experts) see the same tensors, with the same values and layout, as when resident.
/// The bytes read go to one staging buffer the size of the largest disk layer, which every disk layer reuses in turn:
/// allocating and freeing each layer instead leaves the freed blocks in glibc's heap (its mmap threshold adapts upward
/// after the first free), which measured here raised the peak RSS above the fully resident model's (docs/offload.md).
/// With layers on disk the model is for inference: its parameters stop requiring gradients, since a backward pass would
/// read staging views that later layers have overwritten.
/// </summary>
public sealed class LayerOffload : IDisposable
{
    /// <summary>One tensor of a disk unit: where it is in the file and in the staging buffer of its dtype.</summary>
    private sealed record Slot(string CheckpointName, bool Transposed, Tensor Target, ScalarType DType, long[] Shape, long Offset, long Elements, ScalarType Stored)
    {
        public long Bytes => Elements * Target.ElementSize;
        public bool Converted => Transposed || Stored != DType;
    }

    /// <summary>Staging offsets are rounded up to 64 bytes, the alignment LibTorch gives a resident tensor's storage.</summary>
    private const long AlignBytes = 64;

    private readonly CheckpointReader? _reader;
    private readonly Dictionary<int, Slot[]> _disk;
    private readonly Dictionary<ScalarType, Tensor> _staging, _scratch;          // by model dtype; by stored dtype
    private readonly HashSet<int> _loaded = new();

    private LayerOffload(IReadOnlyList<LayerDevice> placement, CheckpointReader? reader, Dictionary<int, Slot[]> disk, long residentBytes)
    {
        Placement = placement; _reader = reader; _disk = disk; ResidentBytes = residentBytes;
        _staging = disk.Values.SelectMany(slots => slots.GroupBy(s => s.DType).Select(g => (g.Key, End: g.Max(s => s.Offset + s.Elements))))
            .GroupBy(x => x.Key).ToDictionary(g => g.Key, g => torch.empty(g.Max(x => x.End), g.Key).DetachFromDisposeScope());
        _scratch = disk.Values.SelectMany(slots => slots).Where(s => s.Converted).GroupBy(s => s.Stored)
            .ToDictionary(g => g.Key, g => torch.empty(g.Max(s => s.Elements), g.Key).DetachFromDisposeScope());
        StagingBytes = _staging.Values.Concat(_scratch.Values).Sum(t => t.NumberOfElements * t.ElementSize);
    }

    /// <summary>Device of every offload unit: the device map's layers, then any units that always stay on disk.</summary>
    public IReadOnlyList<LayerDevice> Placement { get; }

    /// <summary>Bytes of the weights held in memory all the time: the resident parts and the layers on cpu.</summary>
    public long ResidentBytes { get; }

    /// <summary>Bytes of the staging buffer (the largest disk layer) and of the scratch for tensors stored transposed or in another dtype.</summary>
    public long StagingBytes { get; }

    /// <summary>Bytes of disk-layer weights held by the model's parameters now: 0 between forwards, one layer's while it runs.</summary>
    public long LoadedBytes { get; private set; }

    /// <summary>Largest <see cref="LoadedBytes"/> seen.</summary>
    public long PeakLoadedBytes { get; private set; }

    /// <summary>How many times a disk layer has been read.</summary>
    public long LayerReads { get; private set; }

    /// <summary>True when some unit is on disk (its parameters are empty between forwards).</summary>
    public bool HasDiskUnits => _disk.Count > 0;

    /// <summary>For what needs every weight in memory (saving, training): <see cref="SharpSeekException"/> if layers are on disk.</summary>
    public static void ThrowIfOffloaded(LayerOffload? offload, string what)
    {
        if (offload is { HasDiskUnits: true }) throw new SharpSeekException($"a model loaded with layers on disk cannot be {what}: load it without a device map");
    }

    /// <summary>Bytes of a disk unit's weights (0 for a unit in memory).</summary>
    public long UnitBytes(int unit) => _disk.TryGetValue(unit, out var slots) ? slots.Sum(s => s.Bytes) : 0;

    /// <summary>
    /// Reads unit <paramref name="unit"/>'s weights into its parameters if it is on disk (null, nothing to do, otherwise);
    /// disposing the result empties them again.
    /// </summary>
    public IDisposable? Enter(int unit)
    {
        if (!_disk.TryGetValue(unit, out var slots)) return null;
        if (_loaded.Count > 0) throw new InvalidOperationException($"offload unit {unit} entered while unit {_loaded.First()} is loaded: disk layers share one staging buffer");
        _loaded.Add(unit);
        try
        {
            using var _ = torch.no_grad();
            foreach (var s in slots)
            {
                using var scope = torch.NewDisposeScope();
                var view = _staging[s.DType].narrow(0, s.Offset, s.Elements).view(s.Shape);   // contiguous, 64-byte aligned
                if (!s.Converted) _reader!.ReadInto(s.CheckpointName, view);
                else
                {
                    var raw = _scratch[s.Stored].narrow(0, 0, s.Elements);
                    _reader!.ReadInto(s.CheckpointName, raw);
                    view.copy_(s.Transposed ? raw.view(s.Shape[1], s.Shape[0]).t() : raw.view(s.Shape));   // the layout a resident model has
                }
                s.Target.set_(view);                                                           // the parameter now views the staging buffer
                LoadedBytes += s.Bytes;
            }
        }
        catch { Release(unit); throw; }
        PeakLoadedBytes = Math.Max(PeakLoadedBytes, LoadedBytes);
        LayerReads++;
        return new Lease(this, unit);
    }

    private void Release(int unit)
    {
        using (torch.no_grad())
        using (torch.NewDisposeScope())
            foreach (var s in _disk[unit])
            {
                if (s.Target.NumberOfElements == 0) continue;
                s.Target.set_(torch.empty(0, s.DType));
                LoadedBytes -= s.Bytes;
            }
        _loaded.Remove(unit);
    }

    private sealed class Lease(LayerOffload owner, int unit) : IDisposable
    {
        private bool _done;
        public void Dispose() { if (!_done) { _done = true; owner.Release(unit); } }
    }

    /// <summary>
    /// Drops the storage of every tensor of <paramref name="module"/>'s state dict (when <paramref name="release"/>), right after
    /// it is constructed: a disk layer's randomly initialised weights are freed before the next layer is built, so a model
    /// is never whole in memory on its way to being loaded.
    /// </summary>
    public static T Released<T>(T module, bool release) where T : nn.Module
    {
        if (!release) return module;
        using (torch.no_grad())
        using (torch.NewDisposeScope())
            foreach (var t in module.state_dict().Values) t.set_(torch.empty(0, t.dtype, t.device));
        ReturnFreedMemory();
        return module;
    }

    /// <summary>
    /// Hands the heap's free pages back to the operating system (glibc malloc_trim(3); nothing elsewhere). Without it the
    /// blocks a released layer leaves between longer-lived allocations stay in the process's resident set: building the
    /// 57 MB test model with every layer on disk then peaked 37 MB higher. A one-off action, no allocator setting changes.
    /// </summary>
    private static void ReturnFreedMemory()
    {
        if (!OperatingSystem.IsLinux() || _noTrim) return;
        try { MallocTrim(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { _noTrim = true; }   // not glibc (e.g. musl)
    }

    private static bool _noTrim;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    /// <summary>
    /// Fills a model built with its disk units released (<see cref="Released"/>): reads every tensor of a resident part or a
    /// cpu unit from <paramref name="checkpoint"/> now, and records where each disk unit's tensors are for <see cref="Enter"/>.
    /// Unit i's tensors are those named under <paramref name="unitPrefix"/>(i); <paramref name="placement"/> has one device
    /// per unit. The checkpoint's headers must already be validated against the model.
    /// </summary>
    public static LayerOffload Load(CheckpointFolder checkpoint, IReadOnlyList<LayerDevice> placement, IEnumerable<OffloadTensor> tensors, Func<int, string> unitPrefix)
    {
        var list = tensors.ToList();
        var prefixes = Enumerable.Range(0, placement.Count).Select(unitPrefix).ToArray();
        var reader = CheckpointReader.Open(checkpoint, list.Select(t => t.CheckpointName));
        try
        {
            var disk = new Dictionary<int, List<Slot>>();
            var used = new Dictionary<(int, ScalarType), long>();                               // staging elements taken per unit and dtype
            long resident = 0;
            using (torch.no_grad())
                foreach (var t in list)
                {
                    int unit = Array.FindIndex(prefixes, p => t.Name.StartsWith(p, StringComparison.Ordinal));
                    var info = checkpoint.Info(t.CheckpointName);
                    long[] shape = t.Transposed ? [.. info.Shape.Reverse()] : info.Shape;
                    if (unit >= 0 && placement[unit].IsDisk)
                    {
                        if (t.Target.NumberOfElements != 0) throw new InvalidOperationException($"{t.Name}: a disk layer's tensor was not released when the model was built");
                        if (!disk.TryGetValue(unit, out var slots)) disk[unit] = slots = new();
                        long offset = used.GetValueOrDefault((unit, t.Target.dtype)), align = AlignBytes / t.Target.ElementSize;
                        offset = (offset + align - 1) / align * align;
                        slots.Add(new Slot(t.CheckpointName, t.Transposed, t.Target, t.Target.dtype, shape, offset, info.ElementCount, reader.StoredType(t.CheckpointName)));
                        used[(unit, t.Target.dtype)] = offset + info.ElementCount;
                        continue;
                    }
                    if (!t.Target.shape.SequenceEqual(shape)) throw new InvalidOperationException($"{t.Name}: model shape [{string.Join(", ", t.Target.shape)}] vs checkpoint [{string.Join(", ", shape)}]");
                    ReadResident(reader, t);
                    resident += info.ElementCount * t.Target.ElementSize;
                }
            if (disk.Count == 0) { reader.Dispose(); reader = null; }
            else foreach (var t in list) t.Target.requires_grad = false;                       // inference only: no graph may keep a staging view
            return new LayerOffload(placement, reader, disk.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray()), resident);
        }
        catch { reader?.Dispose(); throw; }
    }

    /// <summary>Straight into the parameter when the layouts agree, else through one temporary tensor.</summary>
    private static void ReadResident(CheckpointReader reader, OffloadTensor t)
    {
        if (!t.Transposed && reader.StoredType(t.CheckpointName) == t.Target.dtype && t.Target.is_contiguous()) { reader.ReadInto(t.CheckpointName, t.Target); return; }
        using var raw = reader.Read(t.CheckpointName);
        using var source = t.Transposed ? raw.t() : raw.alias();
        t.Target.copy_(source);
    }

    /// <summary>Bytes of the distinct tensor storages <paramref name="module"/>'s state dict holds now (shared tensors counted once).</summary>
    public static unsafe long LiveBytes(nn.Module module)
    {
        var seen = new HashSet<nint>();
        long bytes = 0;
        foreach (var t in module.state_dict().Values)
            if (t.NumberOfElements > 0 && seen.Add((nint)TensorData.Pointer(t))) bytes += t.NumberOfElements * t.ElementSize;
        return bytes;
    }

    public void Dispose()
    {
        _reader?.Dispose();
        foreach (var t in _staging.Values.Concat(_scratch.Values)) t.Dispose();
    }
}
