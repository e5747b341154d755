using System.Text.Json;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Cli;

/// <summary><c>sharpseek ppo</c> on tiny model folders whose tokenizer has the ChatML tokens (as the SFT stage leaves them).</summary>
public class PpoCliTests
{
    /// <summary>A tiny <paramref name="arch"/> folder from <c>init</c> with the byte tokenizer plus ChatML's special tokens.</summary>
    private static string ChatModel(TempDir dir, string arch, params string[] set)
    {
        string raw = dir["raw"], model = dir["model"];
        var args = new List<string> { "init", "--arch", arch, "--preset", "tiny", "--tokenizer", "byte", "--out", raw };
        foreach (var s in set) { args.Add("--set"); args.Add(s); }
        var init = CliHarness.Run([.. args]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        AddedTokenFiles.Write(raw, model, ChatTemplates.ChatMl.SpecialTokens);
        foreach (var f in Directory.GetFiles(raw))
            if (!File.Exists(Path.Combine(model, Path.GetFileName(f)))) File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        return model;
    }

    private static string Prompts(TempDir dir, string name, params string[] lines)
    {
        File.WriteAllLines(dir[name], lines);
        return dir[name];
    }

    private static readonly string[] Small =
    [
        "--plain", "--set", "warmup_steps=0", "--set", "threads=1", "--set", "precision=fp32", "--set", "log_interval=1", "--set", "eval_iters=1",
        "--set", "ppo.rollout_batch_size=4", "--set", "ppo.mini_batch_size=2", "--set", "ppo.ppo_epochs=1", "--set", "ppo.max_new_tokens=4",
        "--set", "ppo.eval_batch_size=2",
    ];

    [Fact]
    public void Ppo_TinyGpt2Correctness_WritesPpoMetricsPlotAndResumableCheckpoint()
    {
        using var dir = new TempDir();
        string model = ChatModel(dir, "gpt2", "vocab_size=320", "n_positions=64");
        string prompts = Prompts(dir, "prompts.jsonl", """{"prompt": "What is 2 + 3?", "answer": "5"}""", """{"prompt": "What is 4 + 4?", "answer": "8"}""");
        string evalPrompts = Prompts(dir, "eval.jsonl", """{"prompt": "What is 1 + 1?", "answer": "2"}""");
        var r = CliHarness.Run(["ppo", "--init-from", model, "--prompts", prompts, "--eval-prompts", evalPrompts, "--reward", "correctness",
                                "--out", dir["out"], "--set", "max_steps=2", "--set", "eval_interval=2", "--set", "ppo.missing_eot_penalty=1", .. Small]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("ppo: 2 prompts, 1 held-out prompts, reward correctness; each rollout batch of 4 lasts 2 optimizer steps", r.Stdout);

        // (explained_variance is left out while every return is 0: a random model's first batch, no penalty, scores 0)
        var lines = File.ReadAllLines(dir["out/metrics.jsonl"]).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var train = lines.Where(l => l.TryGetProperty("loss", out _)).ToList();
        Assert.Equal(2, train.Count);
        foreach (var name in new[] { "reward", "kl", "entropy", "clip_fraction", "approx_kl", "value_loss", "explained_variance", "response_length", "rollout_seconds", "optimize_seconds", "beta" })
            Assert.True(train[^1].GetProperty("metrics").TryGetProperty(name, out _), $"metrics.jsonl lacks {name}");
        var val = lines.Where(l => l.TryGetProperty("val_loss", out _)).ToList();
        Assert.NotEmpty(val);
        Assert.True(val[^1].GetProperty("metrics").TryGetProperty("val_accuracy", out _));
        Assert.True(new FileInfo(dir["out/" + PpoPlot.FileName]).Length > 1000);

        string checkpoint = Path.Combine(dir["out"], CheckpointStore.DirName(2));
        Assert.True(File.Exists(Path.Combine(checkpoint, ValueHeadModel.FileName)));
        Assert.True(File.Exists(Path.Combine(checkpoint, "tokenizer.json")));
        Assert.Equal(320, ModelLoader.Load(checkpoint).VocabSize);                  // a plain model folder

        var resumed = CliHarness.Run(["ppo", "--init-from", model, "--prompts", prompts, "--reward", "correctness", "--out", dir["out"], "--resume",
                                      "--set", "max_steps=3", "--set", "eval_interval=2", .. Small]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr + resumed.Stdout);
        Assert.True(Directory.Exists(Path.Combine(dir["out"], CheckpointStore.DirName(3))));
    }

    [Fact]
    public void Ppo_LoraOnTinyGpt2_CheckpointHoldsAdaptersValueHeadAndTheUnchangedBaseAndResumes()
    {
        using var dir = new TempDir();
        string model = ChatModel(dir, "gpt2", "vocab_size=320", "n_positions=64");
        string prompts = Prompts(dir, "prompts.jsonl", """{"prompt": "What is 2 + 3?", "answer": "5"}""");
        string[] lora = ["--set", "lora.r=2", "--set", "lora.lora_alpha=4", "--set", "lora.target_modules=c_attn", "--set", "ppo.missing_eot_penalty=1"];
        var r = CliHarness.Run(["ppo", "--init-from", model, "--prompts", prompts, "--reward", "correctness", "--out", dir["out"],
                                "--set", "max_steps=2", "--set", "eval_interval=100", .. lora, .. Small]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("trainable parameters: 1,089 of", r.Stdout);                       // 2 layers × c_attn (2·(64 + 192)) + v_head (64 + 1) = 1,089
        string checkpoint = Path.Combine(dir["out"], CheckpointStore.DirName(2));
        foreach (var f in new[] { ValueHeadModel.FileName, LoraAdapters.WeightsFile, LoraAdapters.ConfigFile })
            Assert.True(File.Exists(Path.Combine(checkpoint, f)), f);
        Assert.Equal(File.ReadAllBytes(Path.Combine(model, "model.safetensors")), File.ReadAllBytes(Path.Combine(checkpoint, "model.safetensors")));

        var resumed = CliHarness.Run(["ppo", "--init-from", model, "--prompts", prompts, "--reward", "correctness", "--out", dir["out"], "--resume",
                                      "--set", "max_steps=3", "--set", "eval_interval=100", .. lora, .. Small]);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr + resumed.Stdout);
    }

    [Fact]
    public void Ppo_TinyDeepSeek_RunsTwoSteps()
    {
        using var dir = new TempDir();
        string model = ChatModel(dir, "deepseek");
        string prompts = Prompts(dir, "prompts.jsonl", """{"prompt": "What is 2 + 3?", "answer": "5"}""");
        var r = CliHarness.Run(["ppo", "--init-from", model, "--prompts", prompts, "--reward", "correctness", "--out", dir["out"],
                                "--set", "max_steps=2", "--set", "eval_interval=100", .. Small]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Equal(2, File.ReadAllLines(dir["out/metrics.jsonl"]).Count(l => l.Contains("\"loss\"")));
        Assert.True(File.Exists(Path.Combine(dir["out"], CheckpointStore.DirName(2), ValueHeadModel.FileName)));
    }

    [Theory]
    [InlineData("not json", "prompts.jsonl:2: not a JSON object")]
    [InlineData("""{"prompt": ""}""", "prompts.jsonl:2: empty \"prompt\"")]
    [InlineData("""{"text": "hi"}""", "prompts.jsonl:2: missing \"prompt\"")]
    [InlineData("""{"prompt": "What is 1 + 2?"}""", "prompts.jsonl:2: the correctness reward needs an \"answer\"")]
    public void Ppo_BadPromptLine_ExitsWith2NamingFileAndLineAndWritesNothing(string line, string expected)
    {
        using var dir = new TempDir();
        string model = ChatModel(dir, "gpt2", "vocab_size=320", "n_positions=64");
        string prompts = Prompts(dir, "prompts.jsonl", """{"prompt": "What is 2 + 3?", "answer": "5"}""", line);
        var r = CliHarness.Run(["ppo", "--init-from", model, "--prompts", prompts, "--reward", "correctness", "--out", dir["out"], .. Small]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains(expected, r.Stderr);
        Assert.False(Directory.Exists(dir["out"]));
    }

    [Fact]
    public void Ppo_ModelWithoutChatTokens_ExitsWith2SayingSftAddsThem()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--tokenizer", "byte", "--set", "vocab_size=320", "--out", dir["m"]).ExitCode);
        string prompts = Prompts(dir, "prompts.jsonl", """{"prompt": "What is 2 + 3?", "answer": "5"}""");
        var r = CliHarness.Run(["ppo", "--init-from", dir["m"], "--prompts", prompts, "--reward", "correctness", "--out", dir["out"], .. Small]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("<|im_start|>", r.Stderr);
        Assert.Contains("sharpseek sft adds them", r.Stderr);
        Assert.False(Directory.Exists(dir["out"]));
    }

    [Fact]
    public void Ppo_RewardModelFolder_ScoresRolloutsWithTheLearnedHead()
    {
        using var dir = new TempDir();
        string model = ChatModel(dir, "gpt2", "vocab_size=320", "n_positions=64");
        using (var rm = RewardModel.FromCausalLM(ModelLoader.Load(model)))
        {
            rm.SavePretrained(dir["rm"]);
            TokenizerFiles.CopyInto(model, dir["rm"]);
        }
        string prompts = Prompts(dir, "prompts.jsonl", """{"prompt": "What is 2 + 3?"}""", """{"prompt": "What is 4 + 4?"}""");
        var r = CliHarness.Run(["ppo", "--init-from", model, "--prompts", prompts, "--reward-model", dir["rm"], "--out", dir["out"],
                                "--set", "max_steps=1", "--set", "eval_interval=5", .. Small]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var train = File.ReadAllLines(dir["out/metrics.jsonl"]).Select(l => JsonDocument.Parse(l).RootElement).Where(l => l.TryGetProperty("loss", out _)).ToList();
        double reward = train[^1].GetProperty("metrics").GetProperty("reward").GetDouble();
        Assert.True(double.IsFinite(reward) && reward != 0, $"reward {reward}: a random score head gives non-zero scores");
    }

    [Fact]
    public void Ppo_RewardModelFolderWithoutScoreHead_ExitsWith2NamingTheTensorAndWritesNothing()
    {
        using var dir = new TempDir();
        string model = ChatModel(dir, "gpt2", "vocab_size=320", "n_positions=64");
        string prompts = Prompts(dir, "prompts.jsonl", """{"prompt": "What is 2 + 3?"}""");
        var r = CliHarness.Run(["ppo", "--init-from", model, "--prompts", prompts, "--reward-model", model, "--out", dir["out"], .. Small]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("score.weight", r.Stderr);
        Assert.False(Directory.Exists(dir["out"]));
    }
}
