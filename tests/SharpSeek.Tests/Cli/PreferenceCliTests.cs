using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tests.Training.Objectives;
using SharpSeek.Training;

namespace SharpSeek.Tests.Cli;

/// <summary><c>sharpseek reward</c> and <c>sharpseek dpo</c> on tiny models of both families: training runs, LoRA, β, and bad input.</summary>
public class PreferenceCliTests
{
    private static string[] Args(string verb, string model, string data, string outDir, params string[] extra) =>
    [
        verb, "--init-from", model, "--data", data, "--out", outDir, "--plain",
        "--set", "batch_size=8", "--set", "lr=3e-3", "--set", "min_lr=3e-4", "--set", "warmup_steps=2", "--set", "eval_iters=2",
        "--set", "threads=1", "--set", "precision=fp32", "--set", "log_interval=10", .. extra,
    ];

    [Fact]
    public void Reward_Gpt2ToyPairs_WritesRewardFolderAndPrintsHeldOutAccuracy()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(96));
        var r = CliHarness.Run(Args("reward", model, data, tmp["out"], "--set", "max_steps=40", "--set", "eval_interval=40", "--set", "preference.val_fraction=0.3"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var line = r.Stdout.Split('\n').Single(l => l.StartsWith("held-out pair accuracy"));
        double accuracy = double.Parse(line.Split(' ')[3].TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(accuracy >= 90, line);
        Assert.Contains("val_accuracy", File.ReadAllText(Path.Combine(tmp["out"], MetricsLog.FileName)));

        string ckpt = new CheckpointStore(tmp["out"]).Latest()!;
        Assert.True(File.Exists(Path.Combine(ckpt, "tokenizer.json")));
        using var rm = RewardModel.Load(ckpt);
        Assert.Equal("gpt2", rm.ModelType);
    }

    [Fact]
    public void Reward_DeepSeekWithLora_TrainsAdaptersAndHead()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "deepseek");
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(32));
        var r = CliHarness.Run(Args("reward", model, data, tmp["out"], "--set", "max_steps=3", "--set", "lora.r=4", "--set", "lora.target_modules=q_proj"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Matches(@"trainable parameters: [\d,]+ of", r.Stdout);
        string ckpt = new CheckpointStore(tmp["out"]).Latest()!;
        Assert.True(File.Exists(Path.Combine(ckpt, LoraAdapters.ConfigFile)));
        using var rm = RewardModel.Load(ckpt);
        Assert.IsType<LoraCausalLM>(rm.Trunk);
    }

    [Fact]
    public void Dpo_Gpt2WithLoraAndBeta_LogsRewardMetrics()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(32));
        var r = CliHarness.Run(Args("dpo", model, data, tmp["out"], "--set", "max_steps=3", "--set", "preference.beta=0.2",
                                    "--set", "lora.r=8", "--set", "lora.target_modules=c_attn"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("reward_accuracy", r.Stdout);
        string ckpt = new CheckpointStore(tmp["out"]).Latest()!;
        Assert.True(File.Exists(Path.Combine(ckpt, LoraAdapters.WeightsFile)));
        Assert.Contains("\"beta\": 0.2", File.ReadAllText(Path.Combine(ckpt, CheckpointStore.ConfigFile)));
    }

    [Fact]
    public void Dpo_DeepSeekWithReference_Trains()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "deepseek");
        string reference = PreferenceTestData.ModelFolder(tmp["ref"], "deepseek", seed: 2);
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(32));
        var r = CliHarness.Run(Args("dpo", model, data, tmp["out"], "--reference", reference, "--set", "max_steps=2"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        using var policy = ModelLoader.Load(new CheckpointStore(tmp["out"]).Latest()!);
        Assert.Equal("deepseek_v3", policy.ModelType);
    }

    [Theory]
    [InlineData("reward", "{\"prompt\": \"a\", \"chosen\": \"b\"", "not valid JSON")]
    [InlineData("dpo", "{\"prompt\": \"a\", \"chosen\": \"b\"}", "missing field \"rejected\"")]
    [InlineData("reward", "{\"prompt\": \"a\", \"chosen\": \"\", \"rejected\": \"c\"}", "\"chosen\" is empty")]
    public void Verb_BadJsonlLine_ExitsTwoNamingFileAndLineAndWritesNothing(string verb, string badLine, string expected)
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], [PreferenceTestData.ToyLines(1)[0], badLine, PreferenceTestData.ToyLines(1)[0]]);
        Directory.CreateDirectory(tmp["out"]);
        File.WriteAllText(Path.Combine(tmp["out"], "keep.txt"), "mine");
        var r = CliHarness.Run(Args(verb, model, data, tmp["out"], "--set", "max_steps=2"));
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains($"{data}:2: {expected}", r.Stderr);
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(tmp["out"]).Select(Path.GetFileName));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(tmp["out"], "keep.txt")));
    }

    [Fact]
    public void Reward_TokenizerWithoutChatTokens_ExitsTwoNamingTheToken()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2", chatTokens: false);
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(8));
        var r = CliHarness.Run(Args("reward", model, data, tmp["out"], "--set", "max_steps=2"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(model, r.Stderr);
        Assert.Contains("'<|im_start|>'", r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public void Reward_BadValDataLine_ExitsTwoNamingTheValFile()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(8));
        string val = PreferenceTestData.WriteJsonl(tmp["val.jsonl"], [.. PreferenceTestData.ToyLines(3), "[1, 2]"]);
        var r = CliHarness.Run(Args("reward", model, data, tmp["out"], "--val-data", val, "--set", "max_steps=2"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{val}:4: expected a JSON object", r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public void Dpo_TemplateTheTokenizerCannotExpress_ExitsTwo()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");                  // ChatML tokens only
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(8));
        var r = CliHarness.Run(Args("dpo", model, data, tmp["out"], "--set", "preference.template=deepseek", "--set", "max_steps=2"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("deepseek template's special token", r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public void Dpo_MissingData_ExitsTwo()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        var r = CliHarness.Run("dpo", "--init-from", model, "--out", tmp["out"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--data", r.Stderr);
    }
}
