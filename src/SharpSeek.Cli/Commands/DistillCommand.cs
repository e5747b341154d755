using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek distill</c>: knowledge distillation of a student (from scratch or --init-from) from one or several frozen
/// teachers (the <c>distill</c> config section, or --teacher DIR[:WEIGHT]), on token windows or SFT JSONL, with the one
/// training loop; with <c>distill.cache</c> the teachers' top-k targets are computed once (built on the first run, or by
/// <c>sharpseek distill cache</c>) and the student reads them.
/// </summary>
public static class DistillCommand
{
    public static Command Create()
    {
        var verb = new TrainingVerb();
        var teacher = TeacherOption();
        var data = new Option<string?>("--data") { Description = "Prepared data folder for distill.data text; same as --set data_dir=…" };
        var command = verb.CreateCommand("distill",
            "Distil one or several teachers into a student (soft labels: α·CE + (1 − α)·τ²·KL at temperature τ; kl forward, reverse or mix); with distill.cache the teachers' top-k targets are computed once; Ctrl-C saves a checkpoint, --resume continues.",
            teacher, data);
        command.SetSafeAction((parse, console) => TrainingVerb.RunRanks(console, rank =>
        {
            var stdout = rank.Out;
            var c = Load(verb, parse, teacher, data);
            if (rank.Shard.IsSplit && c.Distill!.Cache is { } cacheConfig)   // rank 0 alone builds a missing cache; the others then read it
                rank.OnRootFirst(!File.Exists(TeacherCache.PathIn(cacheConfig.Dir)), () => DistillationRun.EnsureCache(c, stdout.WriteLine));
            using var run = DistillationRun.Open(c, stdout.WriteLine, shard: rank.Shard);
            var trainer = new Trainer(c, run.Objective, TrainingModels.For(c, run.DataVocabSize, run.TokenizerVocabSize, run.AddedTokens))
            {
                RetainFreedMemory = true,                   // a process of its own
                ExtraFiles = run.ExtraFiles,                // checkpoints carry the student's tokenizer
                Parallel = rank.Parallel,
            };
            return verb.Run(parse, trainer, c, stdout);
        }));

        var cacheVerb = new TrainingVerb { DataParallel = false };   // one process writes one cache file
        var cacheTeacher = TeacherOption();
        var cacheData = new Option<string?>("--data") { Description = "Prepared data folder for distill.data text; same as --set data_dir=…" };
        var cache = cacheVerb.CreateCommand("cache",
            "Build the top-k teacher cache of a distill config (distill.cache.dir, distill.cache.top_k) without training; an existing cache is checked against the teachers, τ, k and data.",
            cacheTeacher, cacheData);
        cache.SetSafeAction((parse, stdout) =>
        {
            if (Distributed.MpiDataParallel.LaunchedByMpirun())
                throw new ConfigException("distill cache writes one file: run it as one process, not under mpirun (a data-parallel distill builds a missing cache on rank 0 itself)");
            var c = Load(cacheVerb, parse, cacheTeacher, cacheData);
            string path = DistillationRun.EnsureCache(c, stdout.WriteLine);
            stdout.WriteLine($"teacher cache: {path}");
            return 0;
        });
        command.Subcommands.Add(cache);
        return command;
    }

    private static Option<string[]> TeacherOption() => new("--teacher")
    {
        Description = "Teacher model folder, optionally with a weight: DIR or DIR:WEIGHT (repeatable; replaces distill.teachers).",
        AllowMultipleArgumentsPerToken = false,
    };

    private static TrainConfig Load(TrainingVerb verb, ParseResult parse, Option<string[]> teacher, Option<string?> data)
    {
        var last = new List<string>();
        if (parse.GetValue(teacher) is { Length: > 0 } teachers)
        {
            var array = new JsonArray(teachers.Select(t => { var (dir, w) = ParseTeacher(t); return (JsonNode)new JsonObject { ["path"] = dir, ["weight"] = w }; }).ToArray());
            last.Add($"distill.teachers={array.ToJsonString()}");
        }
        if (parse.GetValue(data) is { } d) last.Add($"data_dir={d}");
        var c = verb.LoadConfig(parse, last: last);
        if (c.Distill is null) throw new ConfigException("no teachers: pass --teacher DIR or give the config a distill section");
        return c;
    }

    /// <summary>"DIR" (weight 1) or "DIR:WEIGHT" (the part after the last colon, when it is a positive number).</summary>
    internal static (string Dir, double Weight) ParseTeacher(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon > 0 && double.TryParse(text[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double w))
        {
            if (!(w > 0) || !double.IsFinite(w)) throw new ConfigException($"--teacher {text}: the weight must be positive");
            return (text[..colon], w);
        }
        if (text.Length == 0) throw new ConfigException("--teacher needs a model folder");
        return (text, 1.0);
    }
}
