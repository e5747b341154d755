using System.Text.Json;

namespace SharpSeek.Tests.Models.DeepSeek;

/// <summary>Locates the deepseek_v3 reference cases: $SHARPSEEK_FIXTURES if set, else the copy next to the test assembly.</summary>
internal static class DeepSeekFixtures
{
    public static string Root =>
        Environment.GetEnvironmentVariable("SHARPSEEK_FIXTURES") is { Length: > 0 } env ? env : Path.Combine(AppContext.BaseDirectory, "fixtures");

    public static string FamilyDir => Path.Combine(Root, "deepseek_v3");

    /// <summary>Case folder names, sorted.</summary>
    public static IReadOnlyList<string> CaseNames =>
        Directory.Exists(FamilyDir)
            ? Directory.GetDirectories(FamilyDir).Where(d => File.Exists(Path.Combine(d, "case.json"))).Select(d => Path.GetFileName(d)!).OrderBy(n => n, StringComparer.Ordinal).ToList()
            : throw new DirectoryNotFoundException($"no deepseek_v3 fixtures under {Root}");

    public static string CaseDir(string name) => Path.Combine(FamilyDir, name);

    public static JsonDocument CaseJson(string name) => JsonDocument.Parse(File.ReadAllText(Path.Combine(CaseDir(name), "case.json")));

    /// <summary>inputs.input_ids as [B][T].</summary>
    public static long[][] InputIds(JsonDocument c) =>
        c.RootElement.GetProperty("inputs").GetProperty("input_ids").EnumerateArray().Select(r => r.EnumerateArray().Select(x => x.GetInt64()).ToArray()).ToArray();

    public static long[][] GreedyTokens(JsonDocument c) =>
        c.RootElement.GetProperty("outputs").GetProperty("greedy").GetProperty("new_tokens").EnumerateArray()
            .Select(r => r.EnumerateArray().Select(x => x.GetInt64()).ToArray()).ToArray();

    public static double Tolerance(JsonDocument c, string key) => c.RootElement.GetProperty("tolerance").GetProperty(key).GetDouble();
}
