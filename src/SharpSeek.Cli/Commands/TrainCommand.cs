using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using SharpSeek.Tokenization;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using Spectre.Console;
using SharpSeek.Data;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek train</c>: pretrain or fine-tune (<c>--init-from</c>) with the one training loop; resumable.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var config = new Option<string?>("--config") { Description = "Training config JSON (snake_case keys, e.g. configs/train-shakespeare-char.json)." };
        var set = new Option<string[]>("--set") { Description = "Override a config key, e.g. --set lr=6e-4 (repeatable).", AllowMultipleArgumentsPerToken = false };
        var arch = new Option<string?>("--arch") { Description = "Model family to train from scratch: gpt2 or deepseek; same as --set arch=…" };
        var data = new Option<string?>("--data") { Description = "Prepared data folder (train.bin, val.bin, meta.json); same as --set data_dir=…" };
        var initFrom = new Option<string?>("--init-from") { Description = "Pretrained model folder to fine-tune; same as --set init_from=…" };
        var output = new Option<string?>("--out") { Description = "Output folder for checkpoints, metrics and plot; same as --set out_dir=…" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the newest checkpoint in out_dir." };
        var resumeFrom = new Option<string?>("--resume-from") { Description = "Continue from this checkpoint folder." };
        var plain = new Option<bool>("--plain") { Description = "Plain log lines instead of a progress bar." };
        var command = new Command("train", "Train a model (from scratch, or fine-tune with --init-from); Ctrl-C or SIGTERM (timeout, schedulers, containers) finishes the step, saves a checkpoint and exits 0; --resume continues from it.")
            { config, set, arch, data, initFrom, output, resume, resumeFrom, plain };
        command.SetSafeAction((parse, stdout) =>
        {
            var c = parse.GetValue(config) is { } path ? TrainConfig.Load(path) : new TrainConfig();
            var sets = new List<string>(parse.GetValue(set) ?? []);
            if (parse.GetValue(arch) is { } a) sets.Insert(0, $"arch={a}");
            if (parse.GetValue(data) is { } d) sets.Add($"data_dir={d}");
            if (parse.GetValue(initFrom) is { } i) sets.Add($"init_from={i}");
            if (parse.GetValue(output) is { } o) sets.Add($"out_dir={o}");
            c = c.WithOverrides(sets);
            c.Validate();
            if (c.DataDir.Length == 0) throw new ConfigException("no data: pass --data DIR (a folder from `sharpseek data prepare`) or set data_dir");
            if (c.InitFrom is not null && !Directory.Exists(c.InitFrom)) throw new ConfigException($"init_from {c.InitFrom}: model folder not found");

            using var batches = TokenDatasetBatchSource.Open(c.DataDir, (ulong)c.Seed);
            var objective = new LanguageModelObjective(batches, c.BatchSize, c.BlockSize);
            var trainer = new Trainer(c, objective, TrainingModels.For(c, batches.VocabSize))
            {
                RetainFreedMemory = true,                                                                                  // a process of its own
                ExtraFiles = TokenizerFiles.Names.Select(n => Path.Combine(c.DataDir, n)).Where(File.Exists).ToList(),   // checkpoints carry the tokenizer
            };
            string? resumeDir = parse.GetValue(resumeFrom);
            if (resumeDir is null && parse.GetValue(resume))
                resumeDir = trainer.Store.Latest() ?? throw new CheckpointException($"--resume: {c.OutDir} holds no checkpoint");

            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            using var onTerm = OnSigterm(cts);
            try
            {
                bool interactive = !parse.GetValue(plain) && ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
                var result = interactive ? RunWithProgress(trainer, c, resumeDir, cts.Token) : RunPlain(trainer, c, resumeDir, cts.Token, stdout);
                stdout.WriteLine(Summary(result, c));
                return 0;
            }
            finally { Console.CancelKeyPress -= onCancel; }
        });
        return command;
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
        trainer.OnEval = (step, r) => stdout.WriteLine(EvalLine(step, r, c));
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
                trainer.OnEval = (step, r) => AnsiConsole.MarkupLineInterpolated($"[green]{EvalLine(step, r, c)}[/]");
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

    private static string EvalLine(int step, EvalResult r, TrainConfig c) =>
        string.Create(CultureInfo.InvariantCulture, $"eval step {step}: val loss {r.Loss:F4}, perplexity {r.Perplexity:F2}") +
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
