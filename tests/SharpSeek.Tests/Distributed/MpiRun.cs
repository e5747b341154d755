using System.Diagnostics;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Distributed;

/// <summary>
/// A fact that needs Open MPI's <c>mpirun</c>: skipped with the reason when it is not installed, except in CI (<c>CI=true</c>),
/// where .ci/run installs Debian's openmpi-bin and the test must run.
/// </summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute()
    {
        if (MpiRun.Launcher is null && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "Open MPI's mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev); CI runs this test";
    }
}

/// <summary>A theory that needs Open MPI's <c>mpirun</c>; skipped as <see cref="MpiFactAttribute"/>.</summary>
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute()
    {
        if (MpiRun.Launcher is null && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "Open MPI's mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev); CI runs this test";
    }
}

/// <summary>The <c>sharpseek</c> CLI (<c>dotnet SharpSeek.Cli.dll</c> of the test output folder) launched by <c>mpirun</c> on this machine.</summary>
internal static class MpiRun
{
    /// <summary>mpirun on the PATH, or null.</summary>
    public static string? Launcher { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    private static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "SharpSeek.Cli.dll");

    /// <summary>
    /// One process per entry of <paramref name="ranks"/> (its CLI arguments; MPMD <c>:</c> syntax), one thread each;
    /// <paramref name="environment"/> is passed to every rank, <paramref name="workDirs"/> (if given) is each rank's working directory.
    /// </summary>
    public static CliHarness.Result Run(IReadOnlyList<string[]> ranks, TimeSpan? timeout = null,
                                        IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? workDirs = null)
    {
        using var p = Start(ranks, environment, workDirs);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"mpirun with {ranks.Count} ranks ran past {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds} s: {stderr.Result}");
        }
        p.WaitForExit();
        return new CliHarness.Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>mpirun started (output redirected, not yet read); the caller waits for it or kills it.</summary>
    public static Process Start(IReadOnlyList<string[]> ranks, IReadOnlyDictionary<string, string>? environment = null, IReadOnlyList<string>? workDirs = null)
    {
        var start = new ProcessStartInfo(Launcher ?? throw new InvalidOperationException("mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)"))
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { "--oversubscribe", "--allow-run-as-root", "--bind-to", "none", "-x", "OMP_NUM_THREADS" }) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) { start.ArgumentList.Add("-x"); start.ArgumentList.Add(k); start.Environment[k] = v; }
        for (int r = 0; r < ranks.Count; r++)
        {
            if (r > 0) start.ArgumentList.Add(":");
            if (workDirs is not null) { start.ArgumentList.Add("-wdir"); start.ArgumentList.Add(workDirs[r]); }
            foreach (var a in new[] { "-np", "1", "dotnet", Cli }) start.ArgumentList.Add(a);
            foreach (var a in ranks[r]) start.ArgumentList.Add(a);
        }
        start.Environment["OMP_NUM_THREADS"] = "1";
        return Process.Start(start)!;
    }

    /// <summary>Process id of rank <paramref name="rank"/> among the processes whose command line contains <paramref name="marker"/> (Linux /proc), or null.</summary>
    public static int? RankProcess(int rank, string marker)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                if (!File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(marker)) continue;
                if (File.ReadAllText(Path.Combine(dir, "environ")).Split('\0').Contains($"OMPI_COMM_WORLD_RANK={rank}")) return pid;
            }
            catch (IOException) { }                                                         // ended meanwhile
            catch (UnauthorizedAccessException) { }                                         // another user's process
        }
        return null;
    }

    /// <summary><paramref name="np"/> identical ranks.</summary>
    public static CliHarness.Result Run(int np, string[] args) => Run(Enumerable.Repeat(args, np).ToList());
}
