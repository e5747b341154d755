using System.Text.Json;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;

namespace SharpSeek.Tests.Cli;

/// <summary><c>sharpseek grpo</c> on tiny model folders (plain prompts: the byte tokenizer has no chat tokens).</summary>
public class GrpoCliTests
{
    private static string Model(TempDir dir, string arch, params string[] set)
    {
        var args = new List<string> { "init", "--arch", arch, "--preset", "tiny", "--tokenizer", "byte", "--out", dir["model"] };
        foreach (var s in set) { args.Add("--set"); args.Add(s); }
        var init = CliHarness.Run([.. args]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        return dir["model"];
    }

    private static string Prompts(TempDir dir, string name, params string[] lines)
    {
        File.WriteAllLines(dir[name], lines);
        return dir[name];
    }

    private static readonly string[] Small =
    [
        "--plain", "--set", "warmup_steps=0", "--set", "threads=1", "--set", "precision=fp32", "--set", "log_interval=1", "--set", "eval_iters=1",
        "--set", "grpo.prompts_per_step=2", "--set", "grpo.group_size=2", "--set", "grpo.max_new_tokens=4", "--set", "grpo.eval_batch_size=2",
    ];

    private static readonly string[] TwoPrompts = ["""{"prompt": "What is 2 + 3?", "answer": "5"}""", """{"prompt": "Using the numbers 3, 4, make 7.", "task": "countdown"}"""];

    [Fact]
    public void Grpo_TinyGpt2_WritesMetricsPlotAndResumableCheckpoint()
    {
        using var dir = new TempDir();
        string model = Model(dir, "gpt2", "vocab_size=320", "n_positions=64");
        string prompts = Prompts(dir, "prompts.jsonl", TwoPrompts);
        string evalPrompts = Prompts(dir, "eval.jsonl", """{"prompt": "What is 1 + 1?", "answer": "2"}""");
        var r = CliHarness.Run(["grpo", "--init-from", model, "--prompts", prompts, "--eval-prompts", evalPrompts, "--out", dir["out"],
                                "--set", "max_steps=2", "--set", "eval_interval=2", .. Small]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("grpo: 2 prompts, 1 held-out prompts, plain prompts, reward accuracy+0.1·format, β 0.04; each rollout batch of 2 prompts × 2 completions lasts 1 micro-batches", r.Stdout);

        var lines = File.ReadAllLines(dir["out/metrics.jsonl"]).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var train = lines.Where(l => l.TryGetProperty("loss", out _)).ToList();
        Assert.Equal(2, train.Count);
        foreach (var name in new[] { "reward_mean", "reward_std", "accuracy", "format_rate", "kl", "completion_length", "clip_fraction", "finished_rate",
                                     "reward_errors", "zero_advantage_groups", "stage", "generation_seconds", "optimize_seconds" })
            Assert.True(train[^1].GetProperty("metrics").TryGetProperty(name, out _), $"metrics.jsonl lacks {name}");
        var val = lines.Where(l => l.TryGetProperty("val_loss", out _)).ToList();
        Assert.True(val[^1].GetProperty("metrics").TryGetProperty("val_accuracy", out _));
        Assert.True(new FileInfo(dir["out/" + GrpoPlot.FileName]).Length > 1000);
        Assert.True(File.Exists(Path.Combine(dir["out"], CheckpointStore.DirName(2), "tokenizer.json")));

        var resumed = CliHarness.Run(["grpo", "--init-from", model, "--prompts", prompts, "--out", dir["out"], "--resume",
                                      "--set", "max_steps=3", "--set", "eval_interval=2", .. Small]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr + resumed.Stdout);
        Assert.True(Directory.Exists(Path.Combine(dir["out"], CheckpointStore.DirName(3))));
    }

    [Fact]
    public void Grpo_TinyDeepSeekWithCurriculumAndLora_RunsBothStages()
    {
        using var dir = new TempDir();
        string model = Model(dir, "deepseek");
        string a = Prompts(dir, "a.jsonl", TwoPrompts[0]), b = Prompts(dir, "b.jsonl", TwoPrompts[1]);
        string stages = $$"""grpo.stages=[{"prompts": "{{a}}", "steps": 1, "name": "sums"}, {"prompts": "{{b}}", "steps": 1}]""";
        var r = CliHarness.Run(["grpo", "--init-from", model, "--out", dir["out"], "--set", stages, "--set", "max_steps=3", "--set", "eval_interval=100",
                                "--set", "lora.r=2", "--set", "lora.target_modules=q_proj", "--set", "grpo.beta=0", .. Small]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("curriculum sums (1 prompts, 1 steps), stage 1 (1 prompts, 1 steps)", r.Stdout);
        var stage = File.ReadAllLines(dir["out/metrics.jsonl"]).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(l => l.TryGetProperty("loss", out _)).Select(l => l.GetProperty("metrics").GetProperty("stage").GetDouble()).ToList();
        Assert.Equal([0.0, 1, 1], stage);
    }

    [Theory]
    [InlineData("missing-file", "prompt file not found")]
    [InlineData("not-json", "prompts.jsonl:2: not a JSON object")]
    [InlineData("no-answer", "prompts.jsonl:2: the accuracy reward needs an \"answer\"")]
    [InlineData("unknown-task", "prompts.jsonl:2: unknown task 'sudoku'")]
    [InlineData("stages-and-prompts", "grpo.stages and grpo.prompts are both set")]
    [InlineData("unknown-reward", "unknown reward 'length'")]
    [InlineData("negative-weight", "grpo.rewards.format must be a weight ≥ 0")]
    [InlineData("group-of-one", "grpo.group_size must be at least 2")]
    [InlineData("too-long", "exceeds the model's context (64 tokens)")]
    [InlineData("chat-without-tokens", "grpo.prompt_format chat needs a chat model")]
    public void Grpo_BadInput_ExitsWith2AndWritesNothing(string kind, string expected)
    {
        using var dir = new TempDir();
        string model = Model(dir, "gpt2", "vocab_size=320", "n_positions=64");
        string second = kind switch
        {
            "not-json" => "not json",
            "no-answer" => """{"prompt": "What is 1 + 2?"}""",
            "unknown-task" => """{"prompt": "Solve it.", "task": "sudoku"}""",
            _ => TwoPrompts[1],
        };
        string prompts = kind == "missing-file" ? dir["absent.jsonl"] : Prompts(dir, "prompts.jsonl", TwoPrompts[0], second);
        string[] extra = kind switch
        {
            "stages-and-prompts" => ["--set", $$"""grpo.stages=[{"prompts": "{{prompts}}", "steps": 1}]"""],
            "unknown-reward" => ["--set", """grpo.rewards={"accuracy": 1, "length": 1}"""],
            "negative-weight" => ["--set", """grpo.rewards={"accuracy": 1, "format": -0.5}"""],
            "group-of-one" => ["--set", "grpo.group_size=1"],
            "too-long" => ["--set", "grpo.max_new_tokens=60"],
            "chat-without-tokens" => ["--set", "grpo.prompt_format=chat"],
            _ => [],
        };
        var r = CliHarness.Run(["grpo", "--init-from", model, "--prompts", prompts, "--out", dir["out"], .. Small, .. extra]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains(expected, r.Stderr);
        Assert.False(Directory.Exists(dir["out"]));
    }
}
