using System.CommandLine;
using System.Globalization;
using SharpSeek.Data;
using SharpSeek.Evaluation.Suite;
using Spectre.Console;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// The <c>eval --suite</c> options and action: a suite of tasks (<see cref="SuiteConfig"/>) on one or more models, printed as
/// a table, written as JSON (one file per model) and drawn as a PNG comparing the models (or earlier result JSONs).
/// </summary>
internal sealed class SuiteEval
{
    public Option<string?> Suite { get; } = new("--suite") { Description = $"Evaluation suite: a built-in name ({string.Join(", ", SuiteConfig.BuiltinNames)}) or a suite JSON file (tasks with kind, source, n, seed, levels, max_tokens, chars)." };
    public Option<string> DataDir { get; } = new("--data-dir") { Description = "With --suite: folder that relative sources are read from (standard: tinyshakespeare/input.txt, gsm8k/test.jsonl).", DefaultValueFactory = _ => "data" };
    public Option<string?> Plot { get; } = new("--plot") { Description = "With --suite: PNG comparing the models (and --compare results) task by task." };
    public Option<string[]> Compare { get; } = new("--compare") { Description = "With --suite: earlier suite result JSON files to add to the table and the plot (repeatable).", AllowMultipleArgumentsPerToken = true };
    public Option<string?> Cache { get; } = new("--corpus-cache") { Description = "With --suite: cache folder for fetched corpora (default $SHARPSEEK_CACHE or ~/.cache/sharpseek)." };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Suite, DataDir, Plot, Compare, Cache }) command.Options.Add(o);
    }

    /// <summary>Runs the suite on every model, then prints, writes and draws.</summary>
    public int Run(ParseResult parse, TextWriter stdout, IReadOnlyList<string> models, string? jsonPath, int batchSize, bool bf16)
    {
        var suite = SuiteConfig.Load(parse.GetValue(Suite)!);
        var earlier = (parse.GetValue(Compare) ?? []).Select(p => SuitePlot.Read(p)).Select(r => (Label: Label(r.Model), Result: r)).ToList();
        if (models.Count == 0 && earlier.Count == 0) throw new ConfigException("give --model (one or more) or --compare result files");
        if (models.Count > 1 && jsonPath is not null && !jsonPath.Contains("{model}", StringComparison.Ordinal))
            throw new ConfigException("with several --model give --json a name holding {model}, e.g. results-{model}.json");
        if (batchSize < 0) throw new ConfigException($"--batch-size must be positive, got {batchSize}");
        foreach (var m in models) if (!Directory.Exists(m)) throw new CheckpointException($"model folder {m} does not exist");
        string cache = parse.GetValue(Cache) ?? CorpusFetcher.DefaultCacheDir;
        var runner = new SuiteRunner(new SuiteRunOptions
        {
            DataDir = parse.GetValue(DataDir)!, Bf16 = bf16, BatchSize = batchSize == 0 ? 16 : batchSize,
            FetchCorpus = name =>
            {
                string dir = Path.Combine(cache, "suite-corpora");
                var card = new CorpusFetcher(new ProcessPackageClient(), cache).Fetch(name, dir);
                return Path.Combine(dir, card.TextFile);
            },
            OnTask = r => stdout.WriteLine($"  {r.Name}: {Format(r)}"),
        });
        var runs = new List<(string Label, SuiteResult Result)>(earlier);
        foreach (var modelDir in models)
        {
            string label = Label(modelDir);
            stdout.WriteLine($"{label}: suite {suite.Name}, {suite.Tasks.Count} tasks");
            var result = runner.Run(suite, modelDir);
            runs.Add((label, result));
            if (jsonPath is not null)
            {
                string file = jsonPath.Replace("{model}", label, StringComparison.Ordinal);
                TaskEval.WriteJson(file, result);
                stdout.WriteLine($"wrote {file}");
            }
        }
        WriteTable(stdout, runs);
        if (parse.GetValue(Plot) is { } plot)
        {
            SuitePlot.Save(runs, plot, $"suite {suite.Name}");
            stdout.WriteLine($"wrote {plot}");
        }
        return 0;
    }

    /// <summary>A short label for a model folder: its last two path parts joined by '-'.</summary>
    private static string Label(string modelDir)
    {
        var parts = Path.GetFullPath(modelDir).TrimEnd(Path.DirectorySeparatorChar).Split(Path.DirectorySeparatorChar);
        return string.Join("-", parts.TakeLast(2));
    }

    private static string Format(SuiteTaskResult r) => r.Value is not double v ? $"skipped ({r.Note})"
        : r.Metric == "perplexity" ? string.Create(CultureInfo.InvariantCulture, $"perplexity {v:F2}, {r.BitsPerChar:F3} bits/char") + (r.Note is null ? "" : $" ({r.Note})")
        : string.Create(CultureInfo.InvariantCulture, $"accuracy {v:F1}% of {r.N}") + (r.Note is null ? "" : $" ({r.Note})");

    /// <summary>One row per task, one column per run: perplexity (bits/char) or accuracy %, "-" where skipped.</summary>
    private static void WriteTable(TextWriter stdout, IReadOnlyList<(string Label, SuiteResult Result)> runs)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 60 + 32 * runs.Count;                                  // no wrapping or cut labels in files and pipes
        var table = new Table().AddColumn("task").AddColumn("metric");
        foreach (var (label, _) in runs) table.AddColumn(new TableColumn(Markup.Escape(label)).RightAligned());
        var names = runs.SelectMany(r => r.Result.Results).Select(r => (r.Name, r.Metric)).Distinct().ToList();
        foreach (var (name, metric) in names)
        {
            var cells = runs.Select(run => run.Result.Results.FirstOrDefault(x => x.Name == name) is { Value: double v } r
                ? (metric == "perplexity" ? string.Create(CultureInfo.InvariantCulture, $"{v:F2} ({r.BitsPerChar:F2})") : string.Create(CultureInfo.InvariantCulture, $"{v:F1}"))
                : "-");
            table.AddRow([Markup.Escape(name), metric == "perplexity" ? "ppl (bits/char)" : "acc %", .. cells]);
        }
        console.Write(table);
    }
}
