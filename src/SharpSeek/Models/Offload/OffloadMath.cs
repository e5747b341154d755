using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SharpSeek.Models.Offload;

/// <summary>
/// The pure parts of offloading: parsing device maps and memory sizes, expanding layer ranges, sizing a model's layers
/// from its tensor shapes and planning a memory budget. Every user error is a <see cref="ConfigException"/>.
/// </summary>
public static partial class OffloadMath
{
    private const string Example = "e.g. 0-3:cpu,4-11:disk";

    /// <summary>
    /// Inline map <c>RANGE:DEVICE[,RANGE:DEVICE…]</c>: RANGE is <c>N</c> or <c>N-M</c> (inclusive, 0-based), DEVICE is
    /// <c>cpu</c>, <c>disk</c>, <c>cuda</c> (= cuda:0) or <c>cuda:N</c>; spaces around items are ignored.
    /// </summary>
    public static List<LayerRange> ParseMap(string spec, int cudaDevices)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new ConfigException($"device map is empty ({Example})");
        var ranges = new List<LayerRange>();
        foreach (string raw in spec.Split(','))
        {
            string item = raw.Trim();
            int colon = item.IndexOf(':');
            if (colon <= 0) throw new ConfigException($"device map: '{item}' is not RANGE:DEVICE ({Example})");
            var (first, last) = ParseRange(item[..colon]);
            ranges.Add(new LayerRange(first, last, ParseDevice(item[(colon + 1)..], cudaDevices)));
        }
        return ranges;
    }

    /// <summary>A JSON object of range → device, <c>{"0-3": "cpu", "4-11": "disk"}</c> (<paramref name="source"/> names the file in errors).</summary>
    public static List<LayerRange> ParseJsonMap(string json, int cudaDevices, string source = "device map")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new ConfigException($"{source}: invalid JSON ({e.Message})"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new ConfigException($"{source}: expected a JSON object of layer range → device, e.g. {{\"0-3\": \"cpu\", \"4-11\": \"disk\"}}");
        var ranges = new List<LayerRange>();
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String) throw new ConfigException($"{source}: the device of '{p.Name}' must be a string (cpu, cuda:N or disk)");
            var (first, last) = ParseRange(p.Name);
            ranges.Add(new LayerRange(first, last, ParseDevice(p.Value.GetString()!, cudaDevices)));
        }
        if (ranges.Count == 0) throw new ConfigException($"{source}: no layer ranges");
        return ranges;
    }

    /// <summary>"5" → (5, 5); "0-3" → (0, 3).</summary>
    public static (int First, int Last) ParseRange(string text)
    {
        var m = RangePattern().Match(text.Trim());
        if (!m.Success) throw new ConfigException($"device map: '{text.Trim()}' is not a layer range (N or N-M, {Example})");
        if (!int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int first)
            || !int.TryParse(m.Groups[2].Success ? m.Groups[2].Value : m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out int last))
            throw new ConfigException($"device map: layer range '{text.Trim()}' has a number too large");
        if (first > last) throw new ConfigException($"device map: layer range '{text.Trim()}' is empty (first layer after last)");
        return (first, last);
    }

    /// <summary>"cpu", "disk", "cuda" (= cuda:0) or "cuda:N", case-insensitive; a CUDA device must exist (<paramref name="cudaDevices"/> of them).</summary>
    public static LayerDevice ParseDevice(string text, int cudaDevices)
    {
        string name = text.Trim().ToLowerInvariant();
        if (name == "cpu") return LayerDevice.Cpu;
        if (name == "disk") return LayerDevice.Disk;
        var m = CudaPattern().Match(name);
        if (!m.Success) throw new ConfigException($"device map: unknown device '{text.Trim()}' (expected cpu, cuda:N or disk)");
        int index = 0;
        if (m.Groups[1].Success && !int.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out index)) index = int.MaxValue;
        if (cudaDevices == 0) throw new ConfigException($"device map: device '{text.Trim()}' does not exist here: CUDA is not available (use cpu or disk)");
        if (index >= cudaDevices) throw new ConfigException($"device map: device '{text.Trim()}' does not exist here: there {(cudaDevices == 1 ? "is 1 CUDA device" : $"are {cudaDevices} CUDA devices")} (cuda:0..cuda:{cudaDevices - 1})");
        return new LayerDevice(DeviceTier.Cuda, index);
    }

    /// <summary>
    /// The device of each of <paramref name="layerCount"/> layers: the ranges must lie within 0..layerCount−1, cover every
    /// layer and not overlap.
    /// </summary>
    public static LayerDevice[] Expand(IReadOnlyList<LayerRange> ranges, int layerCount)
    {
        var placement = new LayerDevice?[layerCount];
        var source = new LayerRange[layerCount];
        foreach (var r in ranges)
        {
            if (r.First < 0 || r.Last >= layerCount)
                throw new ConfigException($"device map: layer range '{RangeText(r.First, r.Last)}' is out of range: the model has {layerCount} layers ({RangeText(0, layerCount - 1)})");
            for (int i = r.First; i <= r.Last; i++)
            {
                if (placement[i] is not null)
                    throw new ConfigException($"device map: layer {i} is mapped twice ('{source[i]}' and '{r}')");
                placement[i] = r.Device;
                source[i] = r;
            }
        }
        var missing = new List<string>();
        for (int i = 0; i < layerCount; i++)
        {
            if (placement[i] is not null) continue;
            int j = i;
            while (j + 1 < layerCount && placement[j + 1] is null) j++;
            missing.Add(RangeText(i, j));
            i = j;
        }
        if (missing.Count > 0)
            throw new ConfigException($"device map: layer{(missing.Count == 1 && !missing[0].Contains('-') ? "" : "s")} {string.Join(", ", missing)} not mapped (every layer {RangeText(0, layerCount - 1)} needs a device)");
        return placement.Select(d => d!.Value).ToArray();
    }

    /// <summary>
    /// A memory budget as bytes: a number (decimals allowed) with an optional unit, case-insensitive: B; KB, MB, GB, TB
    /// (powers of 1000; K, M, G, T alike) or KiB, MiB, GiB, TiB (powers of 1024). "300MB" → 300,000,000; "1.5GiB" →
    /// 1,610,612,736. Fractions of a byte are dropped.
    /// </summary>
    public static long ParseSize(string text)
    {
        var m = SizePattern().Match(text.Trim());
        if (!m.Success || !double.TryParse(m.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value))
            throw new ConfigException($"memory size '{text.Trim()}' is not a number with a unit (e.g. 300MB, 1.5GiB)");
        double unit = m.Groups[2].Value.ToLowerInvariant() switch
        {
            "" or "b" => 1,
            "k" or "kb" => 1e3, "m" or "mb" => 1e6, "g" or "gb" => 1e9, "t" or "tb" => 1e12,
            "kib" => 1L << 10, "mib" => 1L << 20, "gib" => 1L << 30, "tib" => 1L << 40,
            var u => throw new ConfigException($"memory size '{text.Trim()}': unknown unit '{u}' (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"),
        };
        double bytes = Math.Floor(value * unit);
        if (bytes < 1) throw new ConfigException($"memory size '{text.Trim()}' must be at least one byte");
        if (bytes >= long.MaxValue) throw new ConfigException($"memory size '{text.Trim()}' is too large");
        return (long)bytes;
    }

    /// <summary>Bytes as a short human figure: 1536 → "1.5 KiB", 300000000 → "286.1 MiB".</summary>
    public static string FormatSize(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.#} {units[u]}");
    }

    /// <summary>
    /// Bytes of each of <paramref name="units"/> layers (tensors named under <paramref name="unitPrefix"/>(i)) and of
    /// everything else (the resident parts), at <paramref name="elementSize"/> bytes per element.
    /// </summary>
    public static (long Resident, long[] Units) Sizes(IEnumerable<(string Name, long[] Shape)> tensors, int units, Func<int, string> unitPrefix, int elementSize)
    {
        var prefixes = Enumerable.Range(0, units).Select(unitPrefix).ToArray();
        long resident = 0;
        var bytes = new long[units];
        foreach (var (name, shape) in tensors)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b) * elementSize;
            int unit = Array.FindIndex(prefixes, p => name.StartsWith(p, StringComparison.Ordinal));
            if (unit >= 0) bytes[unit] += n; else resident += n;
        }
        return (resident, bytes);
    }

    /// <summary>
    /// Fills a budget: the resident parts first, then layers 0, 1, … in memory while they fit, the rest on disk. A disk
    /// layer needs room for itself while it runs, so the first k layers stay in memory for the largest k with
    /// resident + Σ_{i&lt;k} layer_i + max_{i≥k} layer_i ≤ budget (the max term is 0 when k = all layers). Throws
    /// <see cref="ConfigException"/> when even k = 0 does not fit: the budget is smaller than the resident parts plus one layer.
    /// </summary>
    public static LayerDevice[] Plan(long residentBytes, IReadOnlyList<long> layerBytes, long budgetBytes)
    {
        int n = layerBytes.Count;
        var maxFrom = new long[n + 1];                                       // maxFrom[k] = max_{i≥k} layer_i, 0 past the end
        for (int i = n - 1; i >= 0; i--) maxFrom[i] = Math.Max(layerBytes[i], maxFrom[i + 1]);
        long Need(int k, long prefix) => residentBytes + prefix + maxFrom[k];
        if (Need(0, 0) > budgetBytes)
            throw new ConfigException(
                $"memory budget {FormatSize(budgetBytes)} ({budgetBytes} bytes) is smaller than the resident parts ({FormatSize(residentBytes)}: embeddings, final norm, head) " +
                $"plus one layer ({FormatSize(maxFrom[0])}): give at least {FormatSize(Need(0, 0))} ({Need(0, 0)} bytes)");
        int kept = 0;
        long sum = 0;
        while (kept < n && Need(kept + 1, sum + layerBytes[kept]) <= budgetBytes) { sum += layerBytes[kept]; kept++; }
        return Enumerable.Range(0, n).Select(i => i < kept ? LayerDevice.Cpu : LayerDevice.Disk).ToArray();
    }

    private static string RangeText(int first, int last) => first == last ? $"{first}" : $"{first}-{last}";

    [GeneratedRegex(@"^(\d+)(?:\s*-\s*(\d+))?$")]
    private static partial Regex RangePattern();

    [GeneratedRegex(@"^cuda(?::(\d+))?$")]
    private static partial Regex CudaPattern();

    [GeneratedRegex(@"^(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)$")]
    private static partial Regex SizePattern();
}
