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
/// them just before the layer runs, and disposing what it returns releases them right after. The other tensors (the
/// resident parts and the layers mapped to cpu) are read once by <see cref="Load"/>. The family's forward brackets each
/// layer with <c>using (offload?.Enter(i))</c>; nothing else changes, so the KV cache, generation and every attention
/// path (MLA's absorbed kv_b_proj, MoE experts) see the same tensors, with the same values and layout, as when resident.
/// </summary>
public sealed class LayerOffload : IDisposable
{
    private sealed record Slot(string CheckpointName, bool Transposed, Tensor Target, ScalarType DType, long Bytes);

    private readonly CheckpointReader? _reader;
    private readonly Dictionary<int, Slot[]> _disk;
    private readonly HashSet<int> _loaded = new();

    private LayerOffload(IReadOnlyList<LayerDevice> placement, CheckpointReader? reader, Dictionary<int, Slot[]> disk, long residentBytes)
    {
        Placement = placement; _reader = reader; _disk = disk; ResidentBytes = residentBytes;
    }

    /// <summary>Device of every offload unit: the device map's layers, then any units that always stay on disk.</summary>
    public IReadOnlyList<LayerDevice> Placement { get; }

    /// <summary>Bytes of the weights held in memory all the time: the resident parts and the layers on cpu.</summary>
    public long ResidentBytes { get; }

    /// <summary>Bytes of disk-layer weights in memory now: 0 between forwards, one layer's while it runs.</summary>
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

    /// <summary>Bytes of each disk unit's weights in memory while it runs.</summary>
    public long UnitBytes(int unit) => _disk.TryGetValue(unit, out var slots) ? slots.Sum(s => s.Bytes) : 0;

    /// <summary>
    /// Reads unit <paramref name="unit"/>'s weights into its parameters if it is on disk (null, nothing to do, otherwise);
    /// disposing the result releases them.
    /// </summary>
    public IDisposable? Enter(int unit)
    {
        if (!_disk.TryGetValue(unit, out var slots)) return null;
        if (!_loaded.Add(unit)) throw new InvalidOperationException($"offload unit {unit} is already loaded (a layer's forward re-entered itself)");
        try
        {
            using var _ = torch.no_grad();
            foreach (var s in slots)
            {
                using var scope = torch.NewDisposeScope();
                var t = _reader!.Read(s.CheckpointName);                                       // as stored
                if (s.Transposed) t = t.t().contiguous();                                      // the layout a resident model has
                if (t.dtype != s.DType) t = t.to(s.DType);
                s.Target.set_(t);                                                              // the parameter now shares t's storage
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
                s.Target.set_(torch.empty(0, s.DType));                                        // the storage is freed here
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
        return module;
    }

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
            long resident = 0;
            using (torch.no_grad())
                foreach (var t in list)
                {
                    int unit = Array.FindIndex(prefixes, p => t.Name.StartsWith(p, StringComparison.Ordinal));
                    var info = checkpoint.Info(t.CheckpointName);
                    long[] shape = t.Transposed ? [.. info.Shape.Reverse()] : info.Shape;
                    long bytes = info.ElementCount * t.Target.ElementSize;
                    if (unit >= 0 && placement[unit].IsDisk)
                    {
                        if (t.Target.NumberOfElements != 0) throw new InvalidOperationException($"{t.Name}: a disk layer's tensor was not released when the model was built");
                        if (!disk.TryGetValue(unit, out var slots)) disk[unit] = slots = new();
                        slots.Add(new Slot(t.CheckpointName, t.Transposed, t.Target, t.Target.dtype, bytes));
                        continue;
                    }
                    if (!t.Target.shape.SequenceEqual(shape)) throw new InvalidOperationException($"{t.Name}: model shape [{string.Join(", ", t.Target.shape)}] vs checkpoint [{string.Join(", ", shape)}]");
                    ReadResident(reader, t);
                    resident += bytes;
                }
            if (disk.Count == 0) { reader.Dispose(); reader = null; }
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

    public void Dispose() => _reader?.Dispose();
}
