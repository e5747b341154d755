using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using SharpSeek.Distributed;

namespace SharpSeek.Cli;

/// <summary>
/// <c>--nproc N</c> of the training verbs (docs/distributed.md, Launch): outside <c>mpirun</c>, this process runs
/// <c>mpirun -np N</c> of this same CLI with the same arguments (minus <c>--nproc</c>/<c>--oversubscribe</c>) on this host,
/// passes its output through, forwards Ctrl-C/SIGTERM to the ranks and returns mpirun's exit code. It is the action of the
/// <c>--nproc</c> option, so it runs before (and instead of) the verb's own action; <c>--nproc 1</c> and a process already
/// under <c>mpirun</c> run the verb's action.
/// </summary>
public static class MpiLauncher
{
    /// <summary>The Debian/Ubuntu packages that provide Open MPI's <c>mpirun</c> and <c>libmpi.so.40</c>.</summary>
    public const string Packages = "openmpi-bin and libopenmpi-dev";

    /// <summary>The error when <c>mpirun</c> is not on the PATH.</summary>
    public static string MissingMpirunMessage =>
        $"--nproc needs Open MPI's mpirun, which is not on the PATH; install the Debian packages {Packages} (apt-get install openmpi-bin libopenmpi-dev)";

    /// <summary>The action of <c>--nproc</c>: launches the ranks, or runs the verb in this process (<c>--nproc 1</c>, or already under mpirun).</summary>
    public sealed class Action(Option<int> nproc, Option<bool> oversubscribe, Func<bool> dataParallel) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parse)
        {
            int? launched;
            try { launched = Launch(parse, nproc, oversubscribe, dataParallel()); }
            catch (SharpSeekException e)
            {
                parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return CliRunner.UserErrorExitCode;
            }
            if (launched is { } exitCode) return exitCode;
            var verb = parse.CommandResult.Command.Action as SynchronousCommandLineAction
                       ?? throw new InvalidOperationException($"{parse.CommandResult.Command.Name} has no synchronous action");
            return verb.Invoke(parse);
        }
    }

    /// <summary>mpirun's exit code after running the ranks, or null when this process should train itself.</summary>
    private static int? Launch(ParseResult parse, Option<int> nprocOption, Option<bool> oversubscribeOption, bool dataParallel)
    {
        int nproc = parse.GetValue(nprocOption);
        bool oversubscribe = parse.GetValue(oversubscribeOption);
        var names = new List<string>();                              // "distill cache", not "cache"
        for (var r = parse.CommandResult; r is not null && r.Command is not RootCommand; r = r.Parent as CommandResult) names.Insert(0, r.Command.Name);
        string verb = string.Join(' ', names);
        if (nproc < 1) throw new ConfigException($"--nproc must be at least 1, got {nproc}");
        if (MpiDataParallel.LaunchedByMpirun())
        {
            string size = Environment.GetEnvironmentVariable(MpiDataParallel.LauncherVariable)!;
            if (size != nproc.ToString(CultureInfo.InvariantCulture))
                throw new ConfigException($"--nproc {nproc} but mpirun started {size} ranks; under mpirun leave out --nproc (mpirun's -np decides)");
            return null;
        }
        if (nproc == 1) return null;
        if (!dataParallel) throw new ConfigException($"sharpseek {verb} does not run data-parallel (docs/distributed.md); leave out --nproc");
        int cores = Environment.ProcessorCount;                     // honours sched affinity and cgroup CPU limits
        CheckCores(nproc, cores, oversubscribe);
        string mpirun = FindOnPath("mpirun", Environment.GetEnvironmentVariable("PATH")) ?? throw new ConfigException(MissingMpirunMessage);

        string cli = typeof(MpiLauncher).Assembly.Location;         // SharpSeek.Cli.dll, also when the CLI runs in-process
        string dotnet = Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet" ? host : "dotnet";
        var arguments = MpirunArguments(nproc, oversubscribe, Environment.IsPrivilegedProcess, [dotnet, cli, .. RankArguments(parse.Tokens, nprocOption, oversubscribeOption)]);
        var environment = new Dictionary<string, string>();
        string threads = Environment.GetEnvironmentVariable("OMP_NUM_THREADS") ?? "";
        if (threads.Length == 0)                                    // a config's `threads` still wins in each rank (Trainer sets it)
            environment["OMP_NUM_THREADS"] = threads = ThreadsPerRank(cores, nproc).ToString(CultureInfo.InvariantCulture);
        var stdout = parse.InvocationConfiguration.Output;
        stdout.WriteLine($"launching {nproc} ranks on this host (OMP_NUM_THREADS={threads}): mpirun {string.Join(' ', arguments)}");
        stdout.Flush();
        return Run(mpirun, arguments, environment);
    }

    /// <summary>Throws <see cref="ConfigException"/> when <paramref name="nproc"/> ranks would not each get a core and <paramref name="oversubscribe"/> was not asked for.</summary>
    public static void CheckCores(int nproc, int cores, bool oversubscribe)
    {
        if (nproc > cores && !oversubscribe)
            throw new ConfigException($"--nproc {nproc} exceeds the {cores} cores here; add --oversubscribe to run more ranks than cores (slower)");
    }

    /// <summary>Threads per rank so that ranks × threads ≤ cores (at least one).</summary>
    public static int ThreadsPerRank(int cores, int nproc) => Math.Max(1, cores / nproc);

    /// <summary>The first <paramref name="name"/> in the directories of <paramref name="path"/> (a PATH value), or null.</summary>
    public static string? FindOnPath(string name, string? path) =>
        (path ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>
    /// mpirun's arguments: <paramref name="nproc"/> copies of <paramref name="command"/> on this host, no core binding (a rank
    /// may use several threads), <c>OMP_NUM_THREADS</c> passed on, <c>--oversubscribe</c> when asked and
    /// <c>--allow-run-as-root</c> for root (containers).
    /// </summary>
    public static List<string> MpirunArguments(int nproc, bool oversubscribe, bool asRoot, IReadOnlyList<string> command)
    {
        var a = new List<string> { "-np", nproc.ToString(CultureInfo.InvariantCulture) };
        if (oversubscribe) a.Add("--oversubscribe");
        if (asRoot) a.Add("--allow-run-as-root");
        a.AddRange(["--bind-to", "none", "-x", "OMP_NUM_THREADS"]);
        a.AddRange(command);
        return a;
    }

    /// <summary>The command-line tokens without <paramref name="nproc"/> and <paramref name="oversubscribe"/> (and their values): what each rank runs.</summary>
    public static List<string> RankArguments(IReadOnlyList<Token> tokens, Option nproc, Option oversubscribe)
    {
        static bool Names(Option o, Token t) => t.Type == TokenType.Option && (t.Value == o.Name || o.Aliases.Contains(t.Value));
        var kept = new List<string>();
        for (int i = 0; i < tokens.Count; i++)
        {
            if (Names(nproc, tokens[i]))
            {
                if (i + 1 < tokens.Count && tokens[i + 1].Type == TokenType.Argument) i++;                     // its value
            }
            else if (Names(oversubscribe, tokens[i]))
            {
                if (i + 1 < tokens.Count && tokens[i + 1].Type == TokenType.Argument && bool.TryParse(tokens[i + 1].Value, out _)) i++;
            }
            else kept.Add(tokens[i].Value);
        }
        return kept;
    }

    /// <summary>
    /// Runs mpirun in a session of its own (<c>setsid</c>), so that a terminal's Ctrl-C reaches this process alone: mpirun
    /// would turn it into an abort that SIGKILLs the ranks after a second. Instead the first Ctrl-C or SIGTERM goes to the
    /// ranks as SIGTERM (each finishes its step, rank 0 writes a checkpoint, all exit 0); a second one goes to mpirun (abort).
    /// </summary>
    private static int Run(string mpirun, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment)
    {
        string? setsid = FindOnPath("setsid", Environment.GetEnvironmentVariable("PATH"));
        var start = new ProcessStartInfo(setsid ?? mpirun) { UseShellExecute = false };        // output not redirected: it passes through
        if (setsid is not null) { start.ArgumentList.Add("--wait"); start.ArgumentList.Add(mpirun); }
        foreach (var a in arguments) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        using var job = Process.Start(start) ?? throw new InvalidOperationException($"could not start {mpirun}");
        int signals = 0;
        void Forward(PosixSignalContext ctx)
        {
            ctx.Cancel = true;                                                                   // this process waits for mpirun
            if (Interlocked.Increment(ref signals) == 1) foreach (int rank in Ranks(job.Id)) Kill(rank, SigTerm);
            else Kill(job.Id, SigTerm);
        }
        using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Forward);
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Forward);
        job.WaitForExit();
        return job.ExitCode;
    }

    /// <summary>Process ids of the ranks below <paramref name="root"/>: its descendants that Open MPI started (they carry OMPI_COMM_WORLD_RANK).</summary>
    private static List<int> Ranks(int root)
    {
        var parent = new Dictionary<int, int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));                      // pid (comm) state ppid …
                parent[pid] = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
            }
            catch (IOException) { }                                                              // ended meanwhile
            catch (UnauthorizedAccessException) { }
        }
        bool Below(int pid) { for (int p = pid, hops = 0; hops < 64 && parent.TryGetValue(p, out int up); p = up, hops++) if (up == root) return true; return false; }
        var ranks = new List<int>();
        foreach (int pid in parent.Keys.Where(Below))
        {
            try { if (File.ReadAllText($"/proc/{pid}/environ").Split('\0').Any(v => v.StartsWith("OMPI_COMM_WORLD_RANK=", StringComparison.Ordinal))) ranks.Add(pid); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return ranks;
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);
}
