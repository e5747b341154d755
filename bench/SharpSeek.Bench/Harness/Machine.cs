using System.Runtime.InteropServices;
using System.Text.Json.Nodes;

namespace SharpSeek.Bench.Harness;

/// <summary>Facts about the machine a result was measured on: CPU, cores, load (the machine may be shared).</summary>
public static class Machine
{
    public static double LoadAverage1()
    {
        try { return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture); }
        catch (IOException) { return double.NaN; }
    }

    /// <summary>The `uptime` line ("up …, load average: a, b, c") from /proc.</summary>
    public static string Uptime()
    {
        try
        {
            var load = File.ReadAllText("/proc/loadavg").Split(' ');
            double up = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            var span = TimeSpan.FromSeconds(up);
            return $"{DateTime.Now:HH:mm:ss} up {(int)span.TotalHours}:{span.Minutes:D2}, load average: {load[0]}, {load[1]}, {load[2]}";
        }
        catch (IOException) { return "unknown"; }
    }

    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"));
            return line?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException) { return "unknown"; }
    }

    public static JsonObject Describe(IEnumerable<(string Label, double Load1, string Uptime)> loads)
    {
        var samples = new JsonArray();
        foreach (var (label, load1, uptime) in loads)
            samples.Add(new JsonObject { ["at"] = label, ["load1"] = load1, ["uptime"] = uptime });
        return new JsonObject
        {
            ["cpu"] = CpuModel(),
            ["logical_cpus"] = Environment.ProcessorCount,
            ["avx512"] = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated,
            ["simd"] = SharpSeek.Kernels.SimdPaths.Describe(),                  // the C# kernels' path (SHARPSEEK_SIMD)
            ["os"] = RuntimeInformation.OSDescription,
            ["dotnet"] = RuntimeInformation.FrameworkDescription,
            ["load"] = samples,
            ["note"] = "the machine is shared with other jobs: compare figures as ratios measured in the same run",
        };
    }
}
