using System.Text.Json;
using SharpSeek.Evaluation.Suite;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Cli;

public class EvalSuiteCliTests
{
    private static readonly string Corpus = string.Join("\n", Enumerable.Range(0, 40).Select(i => $"line {i:D2}: the quick brown fox jumps over the lazy dog"));

    /// <summary>A tiny random GPT-2 with a char tokenizer over printable ASCII, a corpus, a two-question GSM8K file and a 5-task suite.</summary>
    private static (string Model, string Suite) Setup(TempDir tmp)
    {
        string json = """{"model_type": "gpt2", "vocab_size": 96, "n_positions": 128, "n_embd": 16, "n_layer": 1, "n_head": 2}""";
        (SharpSeek.Models.ModelFactory.CreateAndSave(json, tmp["model"]) as IDisposable)?.Dispose();
        CharTokenizer.FromCorpus(new string(Enumerable.Range(32, 95).Select(c => (char)c).Append('\n').ToArray())).Save(Path.Combine(tmp["model"], CharTokenizer.FileName));
        Directory.CreateDirectory(tmp["data"]);
        File.WriteAllText(Path.Combine(tmp["data"], "corpus.txt"), Corpus);
        File.WriteAllText(Path.Combine(tmp["data"], "gsm.jsonl"), """
            {"question": "What is 2 + 3?", "answer": "2 + 3 = 5\n#### 5"}
            {"question": "What is 4 + 4?", "answer": "4 + 4 = 8\n#### 8"}
            """);
        File.WriteAllText(tmp["suite.json"], """
            {"name": "mini", "tasks": [
              {"name": "ppl corpus", "kind": "perplexity", "source": "corpus.txt", "chars": 1000},
              {"name": "cloze corpus", "kind": "choice", "source": "cloze:corpus.txt", "n": 6, "seed": 2},
              {"name": "copy", "kind": "generation", "source": "probe-copy", "levels": "1", "n": 3, "seed": 1, "max_tokens": 6},
              {"name": "gsm", "kind": "gsm8k", "source": "gsm.jsonl", "n": 2, "max_tokens": 6},
              {"name": "missing", "kind": "perplexity", "source": "nowhere.txt"}
            ]}
            """);
        return (tmp["model"], tmp["suite.json"]);
    }

    [Fact]
    public void EvalSuite_TinyModel_TableJsonAndPngAndSameValuesOnRerun()
    {
        using var tmp = new TempDir();
        var (model, suite) = Setup(tmp);
        var r = CliHarness.Run("eval", "--suite", suite, "--model", model, "--data-dir", tmp["data"], "--json", tmp["a.json"], "--plot", tmp["a.png"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("cloze corpus", r.Stdout);
        var a = SuitePlot.Read(tmp["a.json"]);
        Assert.Equal(5, a.Results.Count);
        Assert.Equal("mini", a.Suite.Name);
        Assert.True(a.Results[0].Value > 1 && a.Results[0].BitsPerChar > 0);
        foreach (var x in a.Results.Skip(1).Take(3)) Assert.InRange(x.Value!.Value, 0, 100);
        Assert.Equal(6, a.Results[1].N);
        Assert.Null(a.Results[4].Value);
        Assert.Contains("nowhere.txt", a.Results[4].Note);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, File.ReadAllBytes(tmp["a.png"])[..4]);

        var again = CliHarness.Run("eval", "--suite", suite, "--model", model, "--data-dir", tmp["data"], "--json", tmp["b.json"]);
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Equal(a.Results.Select(x => x.Value), SuitePlot.Read(tmp["b.json"]).Results.Select(x => x.Value));
    }

    [Fact]
    public void EvalSuite_CompareResultFiles_PlotsWithoutModel()
    {
        using var tmp = new TempDir();
        var (model, suite) = Setup(tmp);
        var first = CliHarness.Run("eval", "--suite", suite, "--model", model, "--data-dir", tmp["data"], "--json", tmp["a.json"]);
        Assert.True(first.ExitCode == 0, first.Stderr);
        File.Copy(tmp["a.json"], tmp["b.json"]);
        var r = CliHarness.Run("eval", "--suite", suite, "--compare", tmp["a.json"], "--compare", tmp["b.json"], "--plot", tmp["cmp.png"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(new FileInfo(tmp["cmp.png"]).Length > 10_000);
    }

    [Theory]
    [InlineData("""{"tasks": [{"kind": "perplexity"}]}""")]
    [InlineData("not json")]
    public void EvalSuite_BadSuiteFile_ExitsTwo(string content)
    {
        using var tmp = new TempDir();
        var (model, _) = Setup(tmp);
        File.WriteAllText(tmp["bad.json"], content);
        var r = CliHarness.Run("eval", "--suite", tmp["bad.json"], "--model", model, "--json", tmp["out.json"]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.False(File.Exists(tmp["out.json"]));
    }

    [Fact]
    public void EvalSuite_UnknownSuiteName_ExitsTwo()
    {
        var r = CliHarness.Run("eval", "--suite", "no-such-suite", "--model", "nowhere");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("built-in", r.Stderr);
    }
}
