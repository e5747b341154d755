using System.Reflection;

namespace SharpSeek.Models;

/// <summary>Named model configurations (configs/*.json, embedded in the library): <c>gpt2-tiny</c>, <c>gpt2-124m</c>, …</summary>
public static class ModelPresets
{
    private const string Prefix = "configs/";

    /// <summary>Preset names available for <paramref name="arch"/> (e.g. "gpt2" → tiny, config-a, 124m).</summary>
    public static IReadOnlyList<string> Names(string arch) =>
        typeof(ModelPresets).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix + arch + "-", StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal))
            .Select(n => n[(Prefix.Length + arch.Length + 1)..^".json".Length])
            .OrderBy(n => n, StringComparer.Ordinal).ToList();

    /// <summary>
    /// The JSON text of preset <paramref name="preset"/> for <paramref name="arch"/>, or of the file
    /// <paramref name="preset"/> when it names an existing .json file.
    /// </summary>
    public static string Json(string arch, string preset)
    {
        if (preset.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && File.Exists(preset)) return File.ReadAllText(preset);
        using var s = typeof(ModelPresets).Assembly.GetManifestResourceStream($"{Prefix}{arch}-{preset}.json");
        if (s is null)
        {
            var names = Names(arch);
            throw new ConfigException(names.Count == 0
                ? $"unknown architecture '{arch}' (supported: {string.Join(", ", ModelFamilies.All.Select(f => f.Alias))})"
                : $"unknown {arch} preset '{preset}' (available: {string.Join(", ", names)}, or a path to a .json config)");
        }
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
