using SharpSeek.Tests.Cli;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;

namespace SharpSeek.Tests.Training;

public class TrainCliTests
{
    /// <summary>A prepared data folder (nanoGPT layout) with <paramref name="trainTokens"/> uint16 train tokens over a 20-id vocabulary.</summary>
    private static string DataDir(TempDir tmp, int trainTokens = 600, int valTokens = 120)
    {
        string dir = tmp["data"];
        Directory.CreateDirectory(dir);
        static byte[] Bin(int n) => Enumerable.Range(0, n).SelectMany(i => BitConverter.GetBytes((ushort)(i * 7 % 20))).ToArray();
        File.WriteAllBytes(Path.Combine(dir, "train.bin"), Bin(trainTokens));
        File.WriteAllBytes(Path.Combine(dir, "val.bin"), Bin(valTokens));
        File.WriteAllText(Path.Combine(dir, "meta.json"), new SharpSeek.Data.TokenDataMeta { VocabSize = 20, TrainTokens = trainTokens, ValTokens = valTokens }.ToJson());
        return dir;
    }

    private static string[] TinyArgs(string data, string outDir, params string[] more) =>
    [
        "train", "--data", data, "--out", outDir, "--plain",
        "--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=16", "--set", "block_size=16", "--set", "batch_size=2",
        "--set", "max_steps=4", "--set", "eval_interval=2", "--set", "eval_iters=1", "--set", "log_interval=1", "--set", "warmup_steps=1",
        .. more,
    ];

    [Fact]
    public void Train_TinyGpt2FewSteps_WritesCheckpointMetricsAndPlot()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run(TinyArgs(DataDir(tmp), tmp["out"]));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("finished at step 4", r.Stdout);
        string ckpt = Path.Combine(tmp["out"], CheckpointStore.DirName(4));
        foreach (var f in new[] { "config.json", "model.safetensors", CheckpointStore.OptimizerFile, CheckpointStore.StateFile, CheckpointStore.ConfigFile })
            Assert.True(File.Exists(Path.Combine(ckpt, f)), f);
        var lines = File.ReadAllLines(Path.Combine(tmp["out"], MetricsLog.FileName));
        Assert.Equal(4, lines.Count(l => l.Contains("\"loss\"")));
        Assert.Equal(3, lines.Count(l => l.Contains("\"val_loss\"")));
        Assert.True(new FileInfo(Path.Combine(tmp["out"], LossPlot.FileName)).Length > 1000);

        var eval = CliHarness.Run("eval", "--model", ckpt, "--data", tmp["data"]);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        Assert.Matches(@"loss \d+\.\d+  perplexity \d+\.\d+  tokens 119", eval.Stdout);
    }

    [Fact]
    public void Train_ArchDeepSeek_TrainsAndCheckpointLoadsAsDeepSeek()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run(TinyArgs(DataDir(tmp), tmp["out"], "--arch", "deepseek", "--set", "model_preset=tiny"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        string ckpt = Path.Combine(tmp["out"], CheckpointStore.DirName(4));
        Assert.Equal("deepseek_v3", SharpSeek.Models.ModelLoader.ReadModelType(ckpt));
        Assert.Contains("moe_max_over_mean", File.ReadAllText(Path.Combine(tmp["out"], MetricsLog.FileName)));
        var eval = CliHarness.Run("eval", "--model", ckpt, "--data", tmp["data"]);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
    }

    [Fact]
    public void Train_InitFromPretrainedFolder_FineTunesThoseWeights()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        string json = """{"model_type": "gpt2", "vocab_size": 32, "n_positions": 32, "n_embd": 24, "n_layer": 1, "n_head": 2}""";
        (SharpSeek.Models.ModelFactory.CreateAndSave(json, tmp["base"]) as IDisposable)?.Dispose();
        var r = CliHarness.Run(TinyArgs(data, tmp["out"], "--init-from", tmp["base"]));
        Assert.True(r.ExitCode == 0, r.Stderr);
        var saved = SharpSeek.Models.Gpt2.Gpt2Config.Load(Path.Combine(tmp["out"], CheckpointStore.DirName(4), "config.json"));
        Assert.Equal((24, 32), (saved.NEmbd, saved.VocabSize));   // the pretrained shape, not the --set n_embd=16
    }

    [Fact]
    public void Train_ResumeWithMoreSteps_ContinuesFromCheckpoint()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        Assert.Equal(0, CliHarness.Run(TinyArgs(data, tmp["out"])).ExitCode);
        var r = CliHarness.Run(TinyArgs(data, tmp["out"], "--resume", "--set", "max_steps=6"));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("resuming from step 4", r.Stdout);
        Assert.Contains("finished at step 6", r.Stdout);
    }

    [Fact]
    public void Train_Sigterm_CheckpointsWhereItStoppedAndResumeContinues()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        string[] longRun = ["--set", "max_steps=1000000", "--set", "eval_interval=1000000"];   // only SIGTERM ends it
        using var train = CliProcess.Start(TinyArgs(data, tmp["out"], longRun));
        Assert.True(train.WaitForLine(l => l.StartsWith("step 3/", StringComparison.Ordinal), TimeSpan.FromSeconds(20)), train.Stderr + train.Stdout);
        train.Terminate();
        Assert.Equal(0, train.WaitForExit(TimeSpan.FromSeconds(20)));                      // as after Ctrl-C
        var stopped = System.Text.RegularExpressions.Regex.Match(train.Stdout, @"interrupted at step (\d+)");
        Assert.True(stopped.Success, train.Stdout + train.Stderr);
        int step = int.Parse(stopped.Groups[1].Value);
        Assert.True(step >= 3, $"stopped at step {step}");
        Assert.True(File.Exists(Path.Combine(tmp["out"], CheckpointStore.DirName(step), CheckpointStore.StateFile)));

        var resumed = CliHarness.Run(TinyArgs(data, tmp["out"], "--resume", "--set", $"max_steps={step + 2}", "--set", "eval_interval=1000000"));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains($"resuming from step {step}", resumed.Stdout);
        Assert.Contains($"finished at step {step + 2}", resumed.Stdout);
    }

    [Fact]
    public void Train_ResumeWithDifferentShape_ExitsTwo()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        Assert.Equal(0, CliHarness.Run(TinyArgs(data, tmp["out"])).ExitCode);
        var r = CliHarness.Run(TinyArgs(data, tmp["out"], "--resume", "--set", "n_embd=32"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("model shape differs (n_embd", r.Stderr);
    }

    [Theory]
    [InlineData("missing-data")]
    [InlineData("bad-set")]
    [InlineData("short-corpus")]
    [InlineData("bad-precision")]
    [InlineData("resume-nothing")]
    [InlineData("no-meta")]
    public void Train_BadInput_ExitsTwoWithOneLineError(string kind)
    {
        using var tmp = new TempDir();
        string data = kind == "short-corpus" ? DataDir(tmp, trainTokens: 10) : DataDir(tmp);
        if (kind == "no-meta") File.Delete(Path.Combine(data, "meta.json"));
        string[] args = kind switch
        {
            "missing-data" => TinyArgs(tmp["nope"], tmp["out"]),
            "bad-set" => TinyArgs(data, tmp["out"], "--set", "lr=fast"),
            "bad-precision" => TinyArgs(data, tmp["out"], "--set", "precision=fp8"),
            "resume-nothing" => TinyArgs(data, tmp["out"], "--resume"),
            _ => TinyArgs(data, tmp["out"]),
        };
        var r = CliHarness.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(tmp["out"], CheckpointStore.DirName(4))));
    }

    [Fact]
    public void Eval_MissingModel_ExitsTwo()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run("eval", "--model", tmp["nope"], "--data", DataDir(tmp));
        Assert.Equal(2, r.ExitCode);
    }
}
