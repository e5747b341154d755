using SharpSeek.Models.Common;

namespace SharpSeek.Models.Offload;

/// <summary>Where a decoder layer's weights live: in memory on the CPU, on a CUDA device, or in the checkpoint file.</summary>
public enum DeviceTier { Cpu, Cuda, Disk }

/// <summary>One placement as written in a device map: "cpu", "cuda:N" or "disk".</summary>
public readonly record struct LayerDevice(DeviceTier Tier, int Index = 0)
{
    public static readonly LayerDevice Cpu = new(DeviceTier.Cpu);
    public static readonly LayerDevice Disk = new(DeviceTier.Disk);

    public bool IsDisk => Tier == DeviceTier.Disk;

    public override string ToString() => Tier switch { DeviceTier.Cpu => "cpu", DeviceTier.Cuda => $"cuda:{Index}", _ => "disk" };
}

/// <summary>Layers <see cref="First"/>..<see cref="Last"/> (inclusive) on <see cref="Device"/>.</summary>
public readonly record struct LayerRange(int First, int Last, LayerDevice Device)
{
    public override string ToString() => (First == Last ? $"{First}" : $"{First}-{Last}") + $":{Device}";
}

/// <summary>
/// Where a model's decoder layers go when it is loaded (<c>--device-map</c> / <c>--max-memory</c>, as Hugging Face
/// Accelerate's device_map and max_memory): explicit layer ranges, or a memory budget filled with layers in order. The
/// embeddings, the final norm and the output head always stay in memory on the CPU (every token needs them, and GPT-2's
/// head is its token embedding). Layers on <c>disk</c> stay in the checkpoint's safetensors file and are read for each
/// forward (<see cref="LayerOffload"/>). Devices are checked against this machine when the map is made.
/// </summary>
public sealed record DeviceMap
{
    /// <summary>Explicit layer ranges (null for a budget).</summary>
    public IReadOnlyList<LayerRange>? Ranges { get; private init; }

    /// <summary>Memory budget in bytes for the weights (null for explicit ranges).</summary>
    public long? MaxMemoryBytes { get; private init; }

    private DeviceMap() { }

    /// <summary>
    /// A map from <paramref name="spec"/>: inline <c>RANGE:DEVICE[,RANGE:DEVICE…]</c> (e.g. <c>0-3:cpu,4-11:disk</c>), a
    /// JSON object text (<c>{"0-3": "cpu", "4-11": "disk"}</c>) or the path of a .json file holding one. Every device
    /// must exist here (<see cref="ConfigException"/> otherwise); whether the ranges fit a model is checked at load.
    /// </summary>
    public static DeviceMap Parse(string spec)
    {
        int cuda = CudaDeviceCount();
        string text = spec.Trim();
        if (text.StartsWith('{')) return new DeviceMap { Ranges = OffloadMath.ParseJsonMap(text, cuda) };
        if (text.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(text))
        {
            if (!File.Exists(text)) throw new ConfigException($"device map file '{text}' not found");
            return new DeviceMap { Ranges = OffloadMath.ParseJsonMap(File.ReadAllText(text), cuda, text) };
        }
        return new DeviceMap { Ranges = OffloadMath.ParseMap(text, cuda) };
    }

    /// <summary>A map of already parsed ranges (their devices checked by <see cref="OffloadMath.ParseDevice"/>).</summary>
    public static DeviceMap FromRanges(IReadOnlyList<LayerRange> ranges) => new() { Ranges = ranges.ToArray() };

    /// <summary>A budget of <paramref name="size"/> (<c>300MB</c>, <c>1.5GiB</c>, plain bytes; see <see cref="OffloadMath.ParseSize"/>).</summary>
    public static DeviceMap Budget(string size) => Budget(OffloadMath.ParseSize(size));

    /// <summary>A budget of <paramref name="bytes"/> for the weights: resident parts first, then layers in order while they fit, the rest on disk.</summary>
    public static DeviceMap Budget(long bytes) =>
        bytes > 0 ? new DeviceMap { MaxMemoryBytes = bytes } : throw new ConfigException($"memory budget must be positive, got {bytes} bytes");

    /// <summary>
    /// The device of each layer, for a model whose always-resident parts take <paramref name="residentBytes"/> and whose
    /// layers take <paramref name="layerBytes"/> (<see cref="OffloadMath.Plan"/> for a budget, <see cref="OffloadMath.Expand"/>
    /// for ranges). Only the CPU and disk tiers are implemented: a CUDA placement is a <see cref="ConfigException"/>.
    /// </summary>
    public LayerDevice[] Resolve(long residentBytes, IReadOnlyList<long> layerBytes)
    {
        var placement = Ranges is not null ? OffloadMath.Expand(Ranges, layerBytes.Count) : OffloadMath.Plan(residentBytes, layerBytes, MaxMemoryBytes!.Value);
        if (placement.FirstOrDefault(d => d.Tier == DeviceTier.Cuda) is { Tier: DeviceTier.Cuda } gpu)
            throw new ConfigException($"device map: placing layers on {gpu} is not supported yet (offload implements the cpu and disk tiers)");
        return placement;
    }

    /// <summary>
    /// The device of each of <paramref name="layers"/> layers of a model whose tensors (names and shapes as the model names
    /// them, float32 in memory) are <paramref name="layout"/>, layer i's under <paramref name="layerPrefix"/>(i); then
    /// <paramref name="extraUnits"/> more units (DeepSeek's multi-token-prediction modules, unused by generation) that
    /// always stay on disk and count neither as resident nor as layers.
    /// </summary>
    public LayerDevice[] Resolve(CheckpointLayout layout, int layers, Func<int, string> layerPrefix, int extraUnits = 0)
    {
        var (resident, units) = OffloadMath.Sizes(layout.Expected, layers + extraUnits, layerPrefix, sizeof(float));
        var placement = Resolve(resident, units.Take(layers).ToArray());
        return [.. placement, .. Enumerable.Repeat(LayerDevice.Disk, extraUnits)];
    }

    /// <summary>CUDA devices LibTorch sees here (0 in a CPU build).</summary>
    private static int CudaDeviceCount() => TorchSharp.torch.cuda.is_available() ? TorchSharp.torch.cuda.device_count() : 0;

    public override string ToString() =>
        Ranges is not null ? string.Join(",", Ranges) : $"max_memory={OffloadMath.FormatSize(MaxMemoryBytes!.Value)}";
}
