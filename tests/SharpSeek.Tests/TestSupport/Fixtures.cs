using System.Text.Json;

namespace SharpSeek.Tests.TestSupport;

/// <summary>Locates the reference fixtures: $SHARPSEEK_FIXTURES if set, else the copy next to the test assembly.</summary>
public static class Fixtures
{
    public static string Root
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable("SHARPSEEK_FIXTURES");
            return string.IsNullOrEmpty(env) ? Path.Combine(AppContext.BaseDirectory, "fixtures") : env;
        }
    }

    /// <summary>Case folder names under &lt;root&gt;/<paramref name="family"/>, as theory rows.</summary>
    public static TheoryData<string> Cases(string family)
    {
        var data = new TheoryData<string>();
        string dir = Path.Combine(Root, family);
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"fixture family folder not found: {dir}");
        foreach (var d in Directory.GetDirectories(dir).OrderBy(d => d, StringComparer.Ordinal)) data.Add(Path.GetFileName(d));
        return data;
    }

    public static string CaseDir(string family, string name) => Path.Combine(Root, family, name);

    public static JsonElement CaseJson(string family, string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(CaseDir(family, name), "case.json"))).RootElement;
}
