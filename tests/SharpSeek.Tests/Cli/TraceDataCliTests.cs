using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Data.Chat;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;

namespace SharpSeek.Tests.Cli;

/// <summary>A tiny byte-level GPT-2 trained to answer every prompt with "#### 7", made once.</summary>
public sealed class SevenTeacher : IDisposable
{
    private readonly TempDir _tmp = new();
    public string Model { get; }

    public SevenTeacher()
    {
        Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=257", "--tokenizer", "byte", "--out", _tmp["tok"]);
        File.WriteAllText(_tmp["text.txt"], string.Concat(Enumerable.Range(0, 200).Select(i => $"What is {i % 7} + {7 - i % 7}?\n#### 7\n\n")));
        Run("data", "prepare", "--input", _tmp["text.txt"], "--tokenizer", _tmp["tok"], "--out", _tmp["data"]);
        Run("train", "--arch", "gpt2", "--data", _tmp["data"], "--out", _tmp["out"], "--plain", "--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=32",
            "--set", "block_size=32", "--set", "batch_size=16", "--set", "max_steps=150", "--set", "warmup_steps=10", "--set", "lr=1e-2", "--set", "min_lr=1e-3",
            "--set", "eval_interval=150", "--set", "eval_iters=1", "--set", "precision=fp32", "--set", "dropout=0");
        Model = Path.Combine(_tmp["out"], CheckpointStore.DirName(150));
    }

    private static void Run(params string[] args)
    {
        var r = CliHarness.Run(args);
        if (r.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', args)}: {r.Stderr}");
    }

    public void Dispose() => _tmp.Dispose();
}

/// <summary><c>sharpseek data traces</c>: sampled teacher solutions kept by rule, written as SFT JSONL, and its bad-input exits.</summary>
public class TraceDataCliTests : IClassFixture<SevenTeacher>
{
    private readonly SevenTeacher _teacher;

    public TraceDataCliTests(SevenTeacher teacher) { _teacher = teacher; }

    private static string Prompts(TempDir tmp, params object[] lines)
    {
        File.WriteAllLines(tmp["prompts.jsonl"], lines.Select(l => JsonSerializer.Serialize(l)));
        return tmp["prompts.jsonl"];
    }

    [Fact]
    public void Traces_TeacherAnsweringSeven_KeepsOnlyPromptsWhoseAnswerIsSevenAndSftReadsThem()
    {
        using var tmp = new TempDir();
        string prompts = Prompts(tmp, new { prompt = "What is 3 + 4?", answer = "7" }, new { prompt = "What is 2 + 6?", answer = "8" }, new { prompt = "What is 1 + 6?", answer = 7 });
        var r = CliHarness.Run("data", "traces", "--model", _teacher.Model, "--prompts", prompts, "--samples", "4", "--temperature", "0.5",
                               "--max-new-tokens", "12", "--out", tmp["traces.jsonl"], "--stats", tmp["stats.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var lines = File.ReadAllLines(tmp["traces.jsonl"]).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(["What is 3 + 4?", "What is 1 + 6?"], lines.Select(l => l["prompt"]!.GetValue<string>()));
        Assert.All(lines, l => Assert.Equal("#### 7", l["completion"]!.GetValue<string>()));
        var stats = JsonNode.Parse(File.ReadAllText(tmp["stats.json"]))!;
        Assert.Equal((3, 2, 12), (stats["prompts"]!.GetValue<int>(), stats["kept"]!.GetValue<int>(), stats["samples"]!.GetValue<int>()));
        Assert.InRange(stats["sample_accuracy"]!.GetValue<double>(), 50, 200.0 / 3);     // at most the two "7" prompts' 8 samples of 12
        Assert.Equal(2, SftJsonl.Read(tmp["traces.jsonl"]).Count);                      // the file sft reads
    }

    [Theory]
    [InlineData("--samples", "0")]
    [InlineData("--max-per-prompt", "0")]
    [InlineData("--format", "html")]
    [InlineData("--temperature", "0")]
    [InlineData("--model", "missing")]
    [InlineData("--prompts", "missing")]
    [InlineData("--prompts", "bad-task")]
    public void Traces_BadInput_Exits2AndWritesNothing(string option, string value)
    {
        using var tmp = new TempDir();
        string prompts = value == "bad-task" ? Prompts(tmp, new { prompt = "x", answer = "1", task = "chess" }) : Prompts(tmp, new { prompt = "What is 3 + 4?", answer = "7" });
        var args = new Dictionary<string, string> { ["--model"] = _teacher.Model, ["--prompts"] = prompts, ["--out"] = tmp["t.jsonl"] };
        args[option] = value switch { "missing" => tmp["nope"], "bad-task" => prompts, _ => value };
        var r = CliHarness.Run(["data", "traces", .. args.SelectMany(kv => new[] { kv.Key, kv.Value })]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.False(File.Exists(tmp["t.jsonl"]));
    }

    [Fact]
    public void Traces_NoSolutionAccepted_Exits2AndWritesNothing()
    {
        using var tmp = new TempDir();
        string prompts = Prompts(tmp, new { prompt = "What is 2 + 6?", answer = "8" });
        var r = CliHarness.Run("data", "traces", "--model", _teacher.Model, "--prompts", prompts, "--samples", "2", "--temperature", "0.3", "--max-new-tokens", "12", "--out", tmp["t.jsonl"], "--stats", tmp["s.json"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("no accepted solution", r.Stderr);
        Assert.False(File.Exists(tmp["t.jsonl"]));
        Assert.Equal(0, JsonNode.Parse(File.ReadAllText(tmp["s.json"]))!["kept"]!.GetValue<int>());   // the counts still say what happened
    }
}
