using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using SharpSeek.Distributed;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using Spectre.Console;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// What every training verb (train, sft, reward, dpo, ppo) shares: the options --config, --set, --init-from, --out,
/// --resume, --resume-from, --plain, --nproc (<see cref="MpiLauncher"/>); reading the config; running the one <see cref="Trainer"/> with a progress bar or plain
/// log lines; Ctrl-C and SIGTERM finishing the step and saving a checkpoint; the closing summary.
/// </summary>
internal sealed class TrainingVerb
{
    public Option<string?> Config { get; } = new("--config") { Description = "Training config JSON (snake_case keys, e.g. configs/train-shakespeare-char.json)." };
    public Option<string[]> Set { get; } = new("--set") { Description = "Override a config key, e.g. --set lr=6e-4 or --set lora.r=8 (repeatable).", AllowMultipleArgumentsPerToken = false };
    public Option<string?> InitFrom { get; } = new("--init-from") { Description = "Pretrained model folder to start from; same as --set init_from=…" };
    public Option<string?> Out { get; } = new("--out") { Description = "Output folder for checkpoints, metrics and plot; same as --set out_dir=…" };
    public Option<bool> Resume { get; } = new("--resume") { Description = "Continue from the newest checkpoint in out_dir." };
    public Option<string?> ResumeFrom { get; } = new("--resume-from") { Description = "Continue from this checkpoint folder." };
    public Option<bool> Plain { get; } = new("--plain") { Description = "Plain log lines instead of a progress bar." };
    public Option<int> NProc { get; } = new("--nproc") { Description = "Train data-parallel with N ranks on this host: runs mpirun -np N of this command (needs Open MPI; docs/distributed.md). 1: one process.", DefaultValueFactory = _ => 1 };
    public Option<bool> Oversubscribe { get; } = new("--oversubscribe") { Description = "With --nproc: allow more ranks than cores (slower)." };

    /// <summary>The verb runs as one rank of a data-parallel job under mpirun, so --nproc N > 1 may launch it (else refused); every training verb does.</summary>
    public bool DataParallel { get; init; } = true;

    /// <summary>A verb named <paramref name="name"/> with the shared options (and <paramref name="extra"/> ones of its own).</summary>
    public Command CreateCommand(string name, string description, params Option[] extra)
    {
        var command = new Command(name, description) { Config, Set, InitFrom, Out, Resume, ResumeFrom, Plain, NProc, Oversubscribe };
        foreach (var o in extra) command.Options.Add(o);
        NProc.Action = new MpiLauncher.Action(NProc, Oversubscribe, () => DataParallel);   // given --nproc, it runs first (launches mpirun, or the verb)
        return command;
    }

    /// <summary>
    /// The config of --config (or the defaults) with <paramref name="first"/> applied, then --set, --init-from and --out;
    /// validated. <paramref name="first"/> are the verb's own shorthands (e.g. --arch) that --set may override.
    /// </summary>
    public TrainConfig LoadConfig(ParseResult parse, IEnumerable<string>? first = null, IEnumerable<string>? last = null)
    {
        var c = parse.GetValue(Config) is { } path ? TrainConfig.Load(path) : new TrainConfig();
        var sets = new List<string>(first ?? []);
        sets.AddRange(parse.GetValue(Set) ?? []);
        if (parse.GetValue(InitFrom) is { } i) sets.Add($"init_from={i}");
        if (parse.GetValue(Out) is { } o) sets.Add($"out_dir={o}");
        sets.AddRange(last ?? []);
        c = c.WithOverrides(sets);
        c.Validate();
        if (c.InitFrom is not null && !Directory.Exists(c.InitFrom)) throw new ConfigException($"init_from {c.InitFrom}: model folder not found");
        return c;
    }

    /// <summary>Runs <paramref name="trainer"/> (resuming when asked), printing progress and the summary; exit code 0.</summary>
    public int Run(ParseResult parse, Trainer trainer, TrainConfig c, TextWriter stdout)
    {
        string? resumeDir = parse.GetValue(ResumeFrom);
        if (resumeDir is null && parse.GetValue(Resume))
            resumeDir = trainer.Store.Latest() ?? throw new CheckpointException($"--resume: {c.OutDir} holds no checkpoint");

        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        using var onTerm = OnSigterm(cts);
        try
        {
            bool interactive = !parse.GetValue(Plain) && ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            var result = interactive ? RunWithProgress(trainer, c, resumeDir, cts.Token) : RunPlain(trainer, c, resumeDir, cts.Token, stdout);
            stdout.WriteLine(Summary(result, c));
            return 0;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    /// <summary>
    /// Runs a training verb's <paramref name="train"/> as one rank of a data-parallel job when <c>mpirun</c> started this
    /// process (docs/distributed.md), else as the one process (MPI is never loaded then). Under mpirun the
    /// <see cref="RankContext"/> carries the MPI group for <see cref="Trainer.Parallel"/>, the rank's
    /// <see cref="DataShard"/> for the objective, and an output that is <paramref name="stdout"/> on rank 0 and silent on the
    /// others; an error raised on one rank alone is printed as <c>error: rank R: …</c> and ends every rank (MPI_Abort, exit 2
    /// for user errors), since the other ranks would otherwise wait in a collective forever.
    /// </summary>
    public static int RunRanks(TextWriter stdout, Func<RankContext, int> train)
    {
        using var parallel = MpiDataParallel.LaunchedByMpirun() ? new MpiDataParallel() : null;
        try { return train(new RankContext(parallel, parallel is { IsRoot: false } ? TextWriter.Null : stdout)); }
        catch (Exception e) when (parallel is { Size: > 1 } && e is not DistributedException { OnEveryRank: true })
        {
            Console.Error.WriteLine($"error: rank {parallel.Rank}: {(e is SharpSeekException ? e.Message : e.ToString())}");
            Console.Error.Flush();
            parallel.Abort(e is SharpSeekException ? CliRunner.UserErrorExitCode : 1);
            throw;
        }
    }

    /// <summary>SIGTERM handled like Ctrl-C (the step finishes and a checkpoint is written); null where the OS has no SIGTERM.</summary>
    private static PosixSignalRegistration? OnSigterm(CancellationTokenSource cts)
    {
        try { return PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; cts.Cancel(); }); }
        catch (PlatformNotSupportedException) { return null; }
    }

    private static TrainResult RunPlain(Trainer trainer, TrainConfig c, string? resumeDir, CancellationToken cancel, TextWriter stdout)
    {
        trainer.OnLog = stdout.WriteLine;
        trainer.OnStep = p =>
        {
            if (p.Step % c.LogInterval == 0 || p.Step == p.MaxSteps)
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"step {p.Step}/{Of(p.MaxSteps)}  loss {p.Loss:F4}  lr {p.Lr:E2}  {p.TokensPerSecond:N0} tok/s  elapsed {p.Elapsed:hh\\:mm\\:ss}  eta {p.Eta:hh\\:mm\\:ss}"));
        };
        var onEval = trainer.OnEval;                                   // a verb's own handler (e.g. ppo's plot) still runs
        trainer.OnEval = (step, r) => { stdout.WriteLine(EvalLine(step, r, c)); onEval?.Invoke(step, r); };
        return trainer.Run(resumeDir, cancel);
    }

    private static TrainResult RunWithProgress(Trainer trainer, TrainConfig c, string? resumeDir, CancellationToken cancel)
    {
        TrainResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: c.MaxSteps);
                trainer.OnLog = s => AnsiConsole.MarkupLineInterpolated($"[grey]{s}[/]");
                var onEval = trainer.OnEval;
                trainer.OnEval = (step, r) => { AnsiConsole.MarkupLineInterpolated($"[green]{EvalLine(step, r, c)}[/]"); onEval?.Invoke(step, r); };
                trainer.OnStep = p =>
                {
                    if (p.MaxSteps != int.MaxValue) task.MaxValue = p.MaxSteps;   // the time schedule sets it after its measurement
                    task.Value = p.Step;
                    task.Description = string.Create(CultureInfo.InvariantCulture, $"step {p.Step}/{Of(p.MaxSteps)}  loss {p.Loss:F4}  {p.TokensPerSecond:N0} tok/s  eta {p.Eta:hh\\:mm\\:ss}");
                };
                result = trainer.Run(resumeDir, cancel);
                task.Value = result.Step;
            });
        return result!;
    }

    /// <summary>"eval step N: val loss …, perplexity …" and the objective's metrics (e.g. accuracy, margin).</summary>
    private static string EvalLine(int step, EvalResult r, TrainConfig c) =>
        string.Create(CultureInfo.InvariantCulture, $"eval step {step}: val loss {r.Loss:F4}, perplexity {r.Perplexity:F2}") +
        string.Concat(r.Metrics.Select(m => string.Create(CultureInfo.InvariantCulture, $", {m.Key} {m.Value:G4}"))) +
        (r.Batches < c.EvalIters ? $" (time limit: {r.Batches} of {c.EvalIters} batches)" : "");

    /// <summary>max_steps as shown: "?" while the time schedule has not measured its horizon yet.</summary>
    private static string Of(int maxSteps) => maxSteps == int.MaxValue ? "?" : maxSteps.ToString(CultureInfo.InvariantCulture);

    private static string Summary(TrainResult r, TrainConfig c)
    {
        string why = r.Reason switch
        {
            TrainStopReason.Completed => "finished",
            TrainStopReason.TimeLimit => $"stopped at the {c.MaxMinutes} minute limit",
            _ => "interrupted",
        };
        return string.Create(CultureInfo.InvariantCulture,
            $"{why} at step {r.Step} after {r.Elapsed.TotalMinutes:F1} min; best val loss {r.BestValLoss:F4}; checkpoint {r.Checkpoint}; " +
            $"metrics {Path.Combine(c.OutDir, MetricsLog.FileName)}; plot {Path.Combine(c.OutDir, LossPlot.FileName)}");
    }
}

/// <summary>
/// One rank of a training verb (<see cref="TrainingVerb.RunRanks"/>): the MPI group (null for one process), the output (silent
/// except on rank 0) and this rank's share of every training batch.
/// </summary>
internal sealed record RankContext(MpiDataParallel? Parallel, TextWriter Out)
{
    /// <summary>Rank 0, or the one process: the only one that writes (checkpoints, plots, caches) and prints.</summary>
    public bool IsRoot => Parallel?.IsRoot ?? true;

    /// <summary>The objective's share: rank r of N (with the ranks' mean for the decisions every rank must take alike), or the whole batch.</summary>
    public DataShard Shard { get; } = Parallel is { Size: > 1 } p ? DataShard.Of(p.Rank, p.Size) with { Average = p.Average } : DataShard.Whole;

    /// <summary>
    /// Runs <paramref name="write"/> on rank 0 alone when rank 0 says <paramref name="needed"/> (e.g. a cache file is missing),
    /// the other ranks waiting until it is done; on one process simply when needed.
    /// </summary>
    public void OnRootFirst(bool needed, Action write)
    {
        if (Parallel is not { Size: > 1 } p) { if (needed) write(); return; }
        if (p.BroadcastFromRoot(needed ? 1 : 0) == 0) return;
        if (p.IsRoot) write();
        p.Barrier();
    }
}
