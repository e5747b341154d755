using SharpSeek.Checkpoints;
using SharpSeek.Distributed;
using SharpSeek.Tests.Cli;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using static SharpSeek.Tests.Distributed.DataParallelTrainingTests;

namespace SharpSeek.Tests.Distributed;

/// <summary>Bad input and faults on one rank of <c>mpirun -np 2 sharpseek train</c> (docs/distributed.md, Fault handling).</summary>
public class FaultHandlingTests
{
    [MpiFact]
    public void Train_SameDataPathDifferentContents_FailOnEveryRankWithExitCode2()
    {
        // the same relative --data on both ranks (so the same config), but each rank runs in its own folder whose copy differs
        using var tmp = new TempDir();
        foreach (var host in new[] { "host0", "host1" })
        {
            Directory.CreateDirectory(tmp[host]);
            Directory.Move(DataDir(tmp), Path.Combine(tmp[host], "data"));
        }
        string stale = Path.Combine(tmp["host1"], "data", "train.bin");
        byte[] tokens = File.ReadAllBytes(stale);
        tokens[200] ^= 1;                                                                  // one token differs, same size
        File.WriteAllBytes(stale, tokens);

        var r = MpiRun.Run([TinyArgs("data", tmp["out"]), TinyArgs("data", tmp["out"])], workDirs: [tmp["host0"], tmp["host1"]]);
        Assert.Equal(2, r.ExitCode);
        string message = "error: rank 1 was started with a different data set (data/meta.json, data/train.bin, data/val.bin) than rank 0 (checksums differ)";
        Assert.Equal(2, (r.Stderr + r.Stdout).Split(message).Length - 1);                 // printed by both ranks
        Assert.False(Directory.Exists(tmp["out"]) && Directory.EnumerateDirectories(tmp["out"], "ckpt-*").Any());
    }

    [MpiFact]
    public void Train_NaNLossOnRank1Only_EveryRankEndsWithExitCode2AndTheCheckpointBeforeIsIntact()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp), outDir = tmp["nan"];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // rank 1's loss becomes NaN at step 5 through the loop's own check; rank 0 is then waiting in the gradient all-reduce
        var args = TinyArgs(data, outDir, "--set", "max_steps=100", "--set", "eval_interval=100", "--set", "checkpoint_interval=2");
        var r = MpiRun.Run([args, args],
                           timeout: TimeSpan.FromSeconds(45), environment: new Dictionary<string, string> { [Trainer.FaultNanVariable] = "1:5" });
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(45), $"took {clock.Elapsed.TotalSeconds:F0} s");
        Assert.Equal(2, r.ExitCode);
        string ckpt4 = Path.Combine(outDir, CheckpointStore.DirName(4));
        Assert.Contains($"error: rank 1: the training loss became NaN at step 5; training stopped. The last good checkpoint is {ckpt4}.", r.Stderr + r.Stdout);
        for (var wait = System.Diagnostics.Stopwatch.StartNew(); MpiRun.RankProcess(0, outDir) is not null && wait.Elapsed < TimeSpan.FromSeconds(10);) Thread.Sleep(50);
        Assert.Null(MpiRun.RankProcess(0, outDir));                                         // no rank left behind

        Assert.Equal([2, 4], new CheckpointStore(outDir).List().Select(c => c.Step));
        var (state, _) = CheckpointStore.ReadState(ckpt4);
        Assert.Equal(4, state.Step);
        using var weights = SafeTensorsFile.Open(Path.Combine(ckpt4, "model.safetensors"));
        foreach (var name in weights.Tensors.Keys)
        {
            using var w = weights.Load(name);
            Assert.True(w.isfinite().all().item<bool>(), name);
        }
    }
}

public class FaultHangTests
{
    [MpiFact]
    public void Train_Rank1HangsAtStep3_Rank0EndsTheJobAfterTheTimeoutAndTheCheckpointBeforeIsIntact()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp), outDir = tmp["hang"];
        // rank 1 sleeps forever at the start of step 3; rank 0 then waits in the gradient all-reduce until its watchdog (6 s) ends it
        var args = TinyArgs(data, outDir, "--set", "max_steps=100", "--set", "eval_interval=100", "--set", "checkpoint_interval=1",
                            "--set", "collective_timeout_minutes=0.1");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var r = MpiRun.Run([args, args],
                           timeout: TimeSpan.FromSeconds(60), environment: new Dictionary<string, string> { [Trainer.FaultHangVariable] = "1:3" });
        double seconds = clock.Elapsed.TotalSeconds;
        Assert.True(seconds < 40, $"took {seconds:F0} s");
        Assert.True(seconds > 6, $"ended after {seconds:F1} s, before the 6 s timeout could pass");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("error: rank 0: no progress for 0.1 min in MPI_Allreduce (another rank is hung or much slower); ending this rank so mpirun ends the job",
                        r.Stderr + r.Stdout);
        for (var wait = System.Diagnostics.Stopwatch.StartNew(); MpiRun.RankProcess(1, outDir) is not null && wait.Elapsed < TimeSpan.FromSeconds(10);) Thread.Sleep(50);
        Assert.Null(MpiRun.RankProcess(1, outDir));                                         // the hung rank is gone too

        Assert.Equal([1, 2], new CheckpointStore(outDir).List().Select(c => c.Step));
        string ckpt2 = Path.Combine(outDir, CheckpointStore.DirName(2));
        var (state, _) = CheckpointStore.ReadState(ckpt2);
        Assert.Equal(2, state.Step);
        using var weights = SafeTensorsFile.Open(Path.Combine(ckpt2, "model.safetensors"));
        Assert.NotEmpty(weights.Tensors.Keys);
        foreach (var name in weights.Tensors.Keys)
        {
            using var w = weights.Load(name);
            Assert.True(w.isfinite().all().item<bool>(), name);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(359.9)]
    [InlineData(360.0)]                                                                     // exactly the limit: still waiting
    public void HangMessage_WithinSixMinutes_IsNull(double waitedSeconds) =>
        Assert.Null(MpiDataParallel.HangMessage(0, "MPI_Bcast", waitedSeconds, timeoutMinutes: 6));

    [Fact]
    public void HangMessage_JustPastSixMinutes_IsTheLine() =>
        Assert.Equal("error: rank 0: no progress for 6 min in MPI_Bcast (another rank is hung or much slower); ending this rank so mpirun ends the job",
                     MpiDataParallel.HangMessage(0, "MPI_Bcast", waitedSeconds: 360.5, timeoutMinutes: 6));

    [Fact]
    public void HangMessage_PastTheLimit_NamesRankMinutesAndOperation() =>
        Assert.Equal("error: rank 3: no progress for 0.1 min in MPI_Allreduce (another rank is hung or much slower); ending this rank so mpirun ends the job",
                     MpiDataParallel.HangMessage(3, "MPI_Allreduce", waitedSeconds: 6.5, timeoutMinutes: 0.1));

    [Fact]
    public void HangMessage_TimeoutOff_IsNullHoweverLong() => Assert.Null(MpiDataParallel.HangMessage(1, "MPI_Recv", waitedSeconds: 1e9, timeoutMinutes: 0));

    [Fact]
    public void FaultHangStep_ThisRank_IsTheStepAndMalformedNamesTheVariable()
    {
        Assert.Equal(3, Trainer.FaultStep("1:3", rank: 1, Trainer.FaultHangVariable));
        var e = Assert.Throws<ConfigException>(() => Trainer.FaultStep("x", rank: 0, Trainer.FaultHangVariable));
        Assert.Equal("SHARPSEEK_FAULT_HANG_AT must be rank:step (e.g. 1:5), got \"x\"", e.Message);
    }
}

public class FaultNanStepTests
{
    [Fact]
    public void FaultNanStep_ThisRank_IsTheStep() => Assert.Equal(5, Trainer.FaultStep("1:5", rank: 1));

    [Fact]
    public void FaultNanStep_OtherRank_IsNull() => Assert.Null(Trainer.FaultStep("1:5", rank: 0));

    [Fact]
    public void FaultNanStep_Unset_IsNull() => Assert.Null(Trainer.FaultStep(null, rank: 0));

    [Theory]
    [InlineData("5")]
    [InlineData("1:0")]
    [InlineData("a:b")]
    public void FaultNanStep_Malformed_ThrowsConfigException(string spec)
    {
        var e = Assert.Throws<ConfigException>(() => Trainer.FaultStep(spec, rank: 0));
        Assert.Equal($"SHARPSEEK_FAULT_NAN_AT must be rank:step (e.g. 1:5), got \"{spec}\"", e.Message);
    }

    [Fact]
    public void Train_FaultNanAtStep2OneProcess_StopsWithExitCode2NamingTheStep()
    {
        using var tmp = new TempDir();
        var r = CliProcess.Run(TinyArgs(DataDir(tmp), tmp["out"], "--set", "checkpoint_interval=1"),
                               new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1", [Trainer.FaultNanVariable] = "0:2" });
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"error: the training loss became NaN at step 2; training stopped. The last good checkpoint is {Path.Combine(tmp["out"], CheckpointStore.DirName(1))}.", r.Stderr);
    }
}
