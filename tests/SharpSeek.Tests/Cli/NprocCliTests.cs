using System.CommandLine;
using SharpSeek.Cli;
using SharpSeek.Tests.Distributed;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Training;
using static SharpSeek.Tests.Distributed.DataParallelTrainingTests;

namespace SharpSeek.Tests.Cli;

/// <summary><c>sharpseek train --nproc N</c>: mpirun launched by the CLI itself (docs/distributed.md, Launch).</summary>
public class NprocCliTests
{
    private static readonly Dictionary<string, string> OneThread = new() { ["OMP_NUM_THREADS"] = "1" };

    [MpiFact]
    public void Train_Nproc2_SameLossesAsOneProcess()
    {
        using var tmp = new TempDir();
        string data = DataDir(tmp);
        var one = CliProcess.Run(TinyArgs(data, tmp["one"]), OneThread);
        Assert.True(one.ExitCode == 0, one.Stderr + one.Stdout);
        var two = CliProcess.Run([.. TinyArgs(data, tmp["two"]), "--nproc", "2", "--oversubscribe"], OneThread);
        Assert.True(two.ExitCode == 0, two.Stderr + two.Stdout);
        Assert.Contains("launching 2 ranks on this host (OMP_NUM_THREADS=1): mpirun -np 2 --oversubscribe", two.Stdout);
        Assert.Contains("data parallel: rank 0 of 2", two.Stdout);

        var expected = Losses(tmp["one"]);
        var actual = Losses(tmp["two"]);
        Assert.Equal([1, 2, 3], actual.Keys.Order());
        foreach (var (step, loss) in expected) Assert.True(Math.Abs(actual[step] - loss) <= 1e-5, $"step {step}: {actual[step]} vs {loss}");
    }

    [MpiFact]
    public void Train_Nproc2Sigterm_RanksFinishTheStepAndCheckpointExitCode0()
    {
        using var tmp = new TempDir();
        string outDir = tmp["out"];
        using var p = CliProcess.Start([.. TinyArgs(DataDir(tmp), outDir, "--set", "max_steps=1000000", "--set", "eval_interval=1000000"), "--nproc", "2", "--oversubscribe"], OneThread);
        Assert.True(p.WaitForLine(l => l.StartsWith("step 2/", StringComparison.Ordinal), TimeSpan.FromSeconds(40)), p.Stderr + p.Stdout);
        p.Terminate();                                                                     // SIGTERM to the launcher, not to mpirun
        Assert.Equal(0, p.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Contains("interrupted at step", p.Stdout);
        string last = new CheckpointStore(outDir).Latest() ?? throw new InvalidOperationException("no checkpoint: " + p.Stderr);
        Assert.True(CheckpointStore.ReadState(last).Item1.Step >= 2);
    }

    [Fact]
    public void Train_NprocAboveTheCores_ExitCode2WithTheMessage()
    {
        int n = Environment.ProcessorCount + 1;
        var r = CliHarness.Run("train", "--data", "none", "--nproc", $"{n}");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal($"error: --nproc {n} exceeds the {Environment.ProcessorCount} cores here; add --oversubscribe to run more ranks than cores (slower)\n", r.Stderr);
    }

    [Fact]
    public void Train_NprocWithoutMpirunOnThePath_ExitCode2NamingThePackages()
    {
        using var tmp = new TempDir();
        var r = CliProcess.Run(["train", "--data", "none", "--nproc", "2", "--oversubscribe"], new Dictionary<string, string> { ["PATH"] = tmp.Path });
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error: --nproc needs Open MPI's mpirun, which is not on the PATH; install the Debian packages openmpi-bin and libopenmpi-dev", r.Stderr);
    }

    [Fact]
    public void DistillCache_Nproc2_RefusedAsItWritesOneFile()
    {
        var r = CliHarness.Run("distill", "cache", "--nproc", "2");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: sharpseek distill cache does not run data-parallel (docs/distributed.md); leave out --nproc\n", r.Stderr);
    }

    [Fact]
    public void Train_Nproc0_ExitCode2()
    {
        var r = CliHarness.Run("train", "--nproc", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: --nproc must be at least 1, got 0\n", r.Stderr);
    }

    [Fact]
    public void Train_Nproc1_RunsInThisProcess()
    {
        var r = CliHarness.Run("train", "--nproc", "1");                                  // the verb's own action: its own error, no mpirun
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: no data: pass --data DIR", r.Stderr);
    }

    [Theory]
    [InlineData("train --nproc 2 --set lr=1 --oversubscribe")]
    [InlineData("train --nproc=2 --set lr=1 --oversubscribe true")]
    [InlineData("train --oversubscribe --set lr=1 --nproc 2")]
    public void RankArguments_WithoutNprocAndOversubscribe(string args)
    {
        var (command, nproc, oversubscribe) = Command();
        Assert.Equal(["train", "--set", "lr=1"], MpiLauncher.RankArguments(command.Parse(args.Split(' ')).Tokens, nproc, oversubscribe));
    }

    [Fact]
    public void MpirunArguments_RootOversubscribed_AllFlagsThenTheCommand() =>
        Assert.Equal(["-np", "3", "--oversubscribe", "--allow-run-as-root", "--bind-to", "none", "-x", "OMP_NUM_THREADS", "dotnet", "cli.dll", "train"],
                     MpiLauncher.MpirunArguments(3, oversubscribe: true, asRoot: true, ["dotnet", "cli.dll", "train"]));

    [Fact]
    public void MpirunArguments_UserWithinTheCores_NoOversubscribeNoRootFlag() =>
        Assert.Equal(["-np", "2", "--bind-to", "none", "-x", "OMP_NUM_THREADS", "x"], MpiLauncher.MpirunArguments(2, oversubscribe: false, asRoot: false, ["x"]));

    [Theory]
    [InlineData(8, 2, 4)]
    [InlineData(8, 3, 2)]
    [InlineData(2, 4, 1)]
    public void ThreadsPerRank_CoresOverRanks_AtLeastOne(int cores, int nproc, int expected) => Assert.Equal(expected, MpiLauncher.ThreadsPerRank(cores, nproc));

    [Fact]
    public void CheckCores_OversubscribeAsked_Allowed() => MpiLauncher.CheckCores(nproc: 64, cores: 2, oversubscribe: true);

    [Fact]
    public void CheckCores_TooManyRanks_ThrowsTheMessage()
    {
        var e = Assert.Throws<ConfigException>(() => MpiLauncher.CheckCores(nproc: 4, cores: 2, oversubscribe: false));
        Assert.Equal("--nproc 4 exceeds the 2 cores here; add --oversubscribe to run more ranks than cores (slower)", e.Message);
    }

    /// <summary>A root command with a "train" verb carrying --nproc, --oversubscribe and --set.</summary>
    private static (RootCommand Root, Option<int> NProc, Option<bool> Oversubscribe) Command()
    {
        var nproc = new Option<int>("--nproc");
        var oversubscribe = new Option<bool>("--oversubscribe");
        var root = new RootCommand { new Command("train") { nproc, oversubscribe, new Option<string[]>("--set") } };
        return (root, nproc, oversubscribe);
    }
}
