using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Tests.Cli;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;

namespace SharpSeek.Tests.Distributed;

/// <summary><c>mpirun -np 2 sharpseek train</c> against one process on the same global batch (docs/distributed.md).</summary>
public class DataParallelTrainingTests
{
    /// <summary>Parameters of the two runs after 3 AdamW steps: only the fp32 summation order of the gradients differs.</summary>
    private const double ParameterTolerance = 1e-5;

    /// <summary>A prepared data folder (nanoGPT layout): 600 train and 120 val uint16 tokens over a 20-id vocabulary.</summary>
    internal static string DataDir(TempDir tmp)
    {
        string dir = tmp["data"];
        Directory.CreateDirectory(dir);
        static byte[] Bin(int n) => Enumerable.Range(0, n).SelectMany(i => BitConverter.GetBytes((ushort)(i * 7 % 20 + i / 13 % 3))).ToArray();
        File.WriteAllBytes(Path.Combine(dir, "train.bin"), Bin(600));
        File.WriteAllBytes(Path.Combine(dir, "val.bin"), Bin(120));
        File.WriteAllText(Path.Combine(dir, "meta.json"), new SharpSeek.Data.TokenDataMeta { VocabSize = 23, TrainTokens = 600, ValTokens = 120 }.ToJson());
        return dir;
    }

    /// <summary>A tiny GPT-2, global batch 4, fp32, no dropout (its masks would differ between a batch of 4 and two of 2), one thread.</summary>
    internal static string[] TinyArgs(string data, string outDir, params string[] more) =>
    [
        "train", "--data", data, "--out", outDir, "--plain",
        "--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=16", "--set", "block_size=16", "--set", "batch_size=4",
        "--set", "max_steps=3", "--set", "eval_interval=3", "--set", "eval_iters=1", "--set", "log_interval=1", "--set", "warmup_steps=1",
        "--set", "dropout=0", "--set", "precision=fp32", "--set", "threads=1",
        .. more,
    ];

    internal static Dictionary<int, double> Losses(string outDir) =>
        File.ReadLines(Path.Combine(outDir, MetricsLog.FileName)).Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(o => o.ContainsKey("loss")).ToDictionary(o => (int)o["step"]!, o => (double)o["loss"]!);

    private static CliHarness.Result RunOne(string[] args) => CliProcess.Run(args, new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1" });

    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    public void Train_TwoRanksHalfBatch_MatchesOneRankFullBatch(int gradAccum)
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        var one = RunOne(TinyArgs(data, tmp["one"], "--set", $"grad_accum={gradAccum}"));
        Assert.True(one.ExitCode == 0, one.Stderr + one.Stdout);
        var two = MpiRun.Run(2, TinyArgs(data, tmp["two"], "--set", $"grad_accum={gradAccum}"));
        Assert.True(two.ExitCode == 0, two.Stderr + two.Stdout);
        Assert.Contains("data parallel: rank 0 of 2", two.Stdout);
        Assert.DoesNotContain("rank 1 of 2", two.Stdout);                                 // rank 1 prints nothing

        var expected = Losses(tmp["one"]);
        var actual = Losses(tmp["two"]);
        Assert.Equal([1, 2, 3], actual.Keys.Order());
        foreach (var (step, loss) in expected) Assert.True(Math.Abs(actual[step] - loss) <= 1e-5, $"step {step}: {actual[step]} vs {loss}");
        Assert.True(expected[3] < expected[1], "the model learns");                       // else equality would prove little

        string ckpt = CheckpointStore.DirName(3);
        using var a = SafeTensorsFile.Open(Path.Combine(tmp["one"], ckpt, "model.safetensors"));
        using var b = SafeTensorsFile.Open(Path.Combine(tmp["two"], ckpt, "model.safetensors"));
        Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
        foreach (var name in a.Tensors.Keys)
        {
            using var x = a.Load(name);
            using var y = b.Load(name);
            double diff = (x - y).abs().max().item<float>();
            Assert.True(diff <= ParameterTolerance, $"{name}: max |Δ| {diff}");
        }
        Assert.Single(Directory.GetDirectories(tmp["two"], "ckpt-*"));                    // rank 0 alone wrote it
    }

    [MpiFact]
    public void Resume_OtherRankCount_ContinuesTheOneProcessCurve()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        string[] Args(string outDir, int maxSteps, params string[] more) =>
            TinyArgs(data, tmp[outDir], ["--set", $"max_steps={maxSteps}", "--set", "lr_decay_steps=4", .. more]);
        var whole = RunOne(Args("whole", 4));
        Assert.True(whole.ExitCode == 0, whole.Stderr + whole.Stdout);

        var twoThenOne = MpiRun.Run(2, Args("two-one", 2));                                 // 2 ranks to step 2, 1 process on
        Assert.True(twoThenOne.ExitCode == 0, twoThenOne.Stderr + twoThenOne.Stdout);
        twoThenOne = RunOne(Args("two-one", 4, "--resume"));
        Assert.True(twoThenOne.ExitCode == 0, twoThenOne.Stderr + twoThenOne.Stdout);

        var oneThenTwo = RunOne(Args("one-two", 2));                                       // 1 process to step 2, 2 ranks on
        Assert.True(oneThenTwo.ExitCode == 0, oneThenTwo.Stderr + oneThenTwo.Stdout);
        oneThenTwo = MpiRun.Run(2, Args("one-two", 4, "--resume"));
        Assert.True(oneThenTwo.ExitCode == 0, oneThenTwo.Stderr + oneThenTwo.Stdout);

        var expected = Losses(tmp["whole"]);
        foreach (var dir in new[] { "two-one", "one-two" })
        {
            var actual = Losses(tmp[dir]);
            Assert.Equal([1, 2, 3, 4], actual.Keys.Order());
            foreach (var (step, loss) in expected) Assert.True(Math.Abs(actual[step] - loss) <= 1e-5, $"{dir} step {step}: {actual[step]} vs {loss}");
        }
    }

    [MpiFact]
    public void Train_OneRankKilled_EveryRankEndsAndTheLastCheckpointIsIntact()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp), outDir = tmp["killed"];
        using var job = MpiRun.Start([.. Enumerable.Repeat(TinyArgs(data, outDir, "--set", "max_steps=1000000", "--set", "eval_interval=1000000", "--set", "checkpoint_interval=10"), 2)]);
        var stdout = job.StandardOutput.ReadToEndAsync();
        var stderr = job.StandardError.ReadToEndAsync();
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (new CheckpointStore(outDir).Latest() is null && !job.HasExited && clock.Elapsed < TimeSpan.FromSeconds(40)) Thread.Sleep(50);
            Assert.True(new CheckpointStore(outDir).Latest() is not null, $"no checkpoint after {clock.Elapsed.TotalSeconds:F0} s (mpirun exited: {job.HasExited})");
            int rank1 = MpiRun.RankProcess(1, outDir) ?? throw new InvalidOperationException("rank 1 not found");
            System.Diagnostics.Process.GetProcessById(rank1).Kill();                        // SIGKILL mid-run
            Assert.True(job.WaitForExit(TimeSpan.FromSeconds(30)), "rank 0 still runs 30 s after rank 1 was killed");
        }
        finally { if (!job.HasExited) job.Kill(entireProcessTree: true); }
        job.WaitForExit();
        Assert.NotEqual(0, job.ExitCode);
        Assert.Contains("rank 1", stdout.Result + stderr.Result);                             // mpirun names the rank that died
        string last = new CheckpointStore(outDir).Latest()!;
        var (state, _) = CheckpointStore.ReadState(last);
        Assert.True(state.Step >= 10 && state.Step % 10 == 0, $"step {state.Step}");
        using var weights = SafeTensorsFile.Open(Path.Combine(last, "model.safetensors"));
        Assert.NotEmpty(weights.Tensors);
    }

    [MpiFact]
    public void Train_RanksWithDifferentConfigs_FailOnEveryRankWithExitCode2()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        var r = MpiRun.Run([TinyArgs(data, tmp["out"]), TinyArgs(data, tmp["out"], "--set", "lr=0.002")]);
        Assert.Equal(2, r.ExitCode);
        string message = "error: rank 1 was started with a different config than rank 0";
        Assert.Equal(2, (r.Stderr + r.Stdout).Split(message).Length - 1);                 // printed by both ranks
        Assert.False(Directory.Exists(Path.Combine(tmp["out"], CheckpointStore.DirName(1))));
    }

    [MpiFact]
    public void Train_ErrorOnOneRankOnly_EndsEveryRankWithExitCode2()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        // rank 1 alone fails before its first collective; rank 0 would otherwise wait for it forever
        var r = MpiRun.Run([TinyArgs(data, tmp["out"]), TinyArgs(data, tmp["out"], "--set", "batch_size=3")], TimeSpan.FromSeconds(45));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error: rank 1: batch_size 3 does not split evenly over 2 ranks", r.Stderr + r.Stdout);
    }
}
