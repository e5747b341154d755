using System.Text.Json;
using SharpSeek.Data;
using SharpSeek.Data.Cleaning;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Data.Cleaning;

public class DataCleanCliTests
{
    private static readonly string Para1 = "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.";
    private static readonly string Para2 = "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, I thought I would sail about.";
    private const string Chinese = "床前明月光，疑是地上霜。举头望明月，低头思故乡。白日依山尽，黄河入海流。欲穷千里目，更上一层楼。春眠不觉晓，处处闻啼鸟。";

    /// <summary>Ten documents: two kept English, one Chinese, and one removed by each step (plus a second exact copy).</summary>
    private static string Corpus() => string.Join("\n\n",
    [
        Para1,
        "short one",                                                                       // length
        "$$$ 1234 5678 #### @@@@ 9999 %%%% 0000 &&&& 1111 **** 2222 ++++ 3333 ==== 4444",   // symbols
        "buy now\nbuy now\nbuy now\nbuy now\nsomething different here to pad it out",      // repeated lines
        "Привет мир, это длинный тест на русском языке, чтобы проверить фильтр языка.",     // language (other)
        Para2,
        Para1,                                                                             // exact duplicate
        Para2.Replace("little or no money", "little or no cash"),                          // near duplicate
        Chinese,
        "  It was the best of times,\tit was the worst of times, it was the age of wisdom, it was the age of foolishness.  ",   // duplicate after normalisation
    ]) + "\n";

    [Fact]
    public void Clean_MixedCorpus_EachStepRemovesItsDocumentAndLabelsAreWritten()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        File.WriteAllText(tmp["in.txt"], Corpus());
        var r = CliHarness.Run("data", "clean", tmp["in.txt"], tmp["out.jsonl"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var docs = File.ReadAllLines(tmp["out.jsonl"]).Select(l => JsonSerializer.Deserialize<CleanDocument>(l)!).ToList();
        Assert.Equal([0, 5, 8], docs.Select(d => d.Labels.Id));
        Assert.Equal(["en", "en", "zh"], docs.Select(d => d.Labels.Language));
        Assert.Equal(Chinese, docs[2].Text);
        Assert.All(docs, d => Assert.InRange(d.Labels.Quality, 0.5, 1.0));
        using var report = JsonDocument.Parse(File.ReadAllText(tmp["out.jsonl.report.json"]));
        var removed = report.RootElement.GetProperty("steps").EnumerateArray().ToDictionary(s => s.GetProperty("step").GetString()!, s => s.GetProperty("removed").GetInt32());
        Assert.Equal(new Dictionary<string, int>
        {
            [DataCleaner.Normalize] = 0, [DataCleaner.Length] = 1, [DataCleaner.Symbols] = 1, [DataCleaner.RepeatedLines] = 1,
            [DataCleaner.LanguageStep] = 1, [DataCleaner.Exact] = 2, [DataCleaner.Near] = 1,
        }, removed);
        Assert.Contains("near-duplicate of #5", r.Stdout);
        Assert.Equal(10, report.RootElement.GetProperty("documents_in").GetInt32());
    }

    [Fact]
    public void Clean_KeepNearDuplicates_LabelsTheCluster()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        File.WriteAllText(tmp["in.txt"], Corpus());
        var r = CliHarness.Run("data", "clean", tmp["in.txt"], tmp["out.jsonl"], "--keep-near-duplicates");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var docs = File.ReadAllLines(tmp["out.jsonl"]).Select(l => JsonSerializer.Deserialize<CleanDocument>(l)!).ToList();
        Assert.Equal(5, docs.Single(d => d.Labels.Id == 7).Labels.NearDupCluster);
        Assert.Equal(5, docs.Single(d => d.Labels.Id == 5).Labels.NearDupCluster);
    }

    [Fact]
    public void Clean_JsonlInputWithCustomField_ReadsDocuments()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        File.WriteAllLines(tmp["in.jsonl"], [JsonSerializer.Serialize(new { body = Para1 }), JsonSerializer.Serialize(new { body = Para2 })]);
        var r = CliHarness.Run("data", "clean", tmp["in.jsonl"], tmp["out.jsonl"], "--jsonl-field", "body");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(2, File.ReadAllLines(tmp["out.jsonl"]).Length);
    }

    [Fact]
    public void ReadDocuments_CustomSeparatorLine_SplitsThere()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        File.WriteAllText(tmp["in.txt"], "a\n\nb\n<|endoftext|>\nc\n");
        Assert.Equal(["a\n\nb\n", "c\n"], DataCleaner.ReadDocuments(tmp["in.txt"], new CleanOptions { Separator = "<|endoftext|>" }));
    }

    [Theory]
    [InlineData("--languages", "klingon")]
    [InlineData("--near-dup-threshold", "1.5")]
    [InlineData("--max-symbol-ratio", "-0.1")]
    public void Clean_BadOption_ExitsTwoAndWritesNothing(string flag, string value)
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        File.WriteAllText(tmp["in.txt"], Corpus());
        var r = CliHarness.Run("data", "clean", tmp["in.txt"], tmp["out.jsonl"], flag, value);
        Assert.Equal(2, r.ExitCode);
        Assert.False(File.Exists(tmp["out.jsonl"]));
    }

    [Fact]
    public void Clean_MissingInput_ExitsTwo()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        var r = CliHarness.Run("data", "clean", tmp["nope.txt"], tmp["out.jsonl"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr);
    }
}
