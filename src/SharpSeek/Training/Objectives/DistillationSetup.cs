using System.Globalization;
using System.Text.Json.Nodes;
using SharpSeek.Data;
using SharpSeek.Data.Chat;
using SharpSeek.Distributed;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// A distillation run put together from a <see cref="TrainConfig"/> with a <c>distill</c> section (what <c>sharpseek distill</c>
/// trains): the data (token windows of data_dir, or the sft section's chat JSONL), the teachers (checked to share the student's
/// tokenizer) or their top-k cache (built when absent, checked against its identity when present), and the objective.
/// </summary>
public sealed class DistillationRun : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    /// <summary>The objective to give the <see cref="Trainer"/>.</summary>
    public IObjective Objective { get; private set; } = null!;

    /// <summary>Vocabulary of the data (the student's default vocab_size).</summary>
    public int DataVocabSize { get; private set; }

    /// <summary>Tokenizer size (with chat tokens added for SFT data) and how many were added, for <see cref="TrainingModels.For"/>.</summary>
    public int TokenizerVocabSize { get; private set; }

    public int AddedTokens { get; private set; }

    /// <summary>Files checkpoints carry (the tokenizer).</summary>
    public IReadOnlyList<string> ExtraFiles { get; private set; } = [];

    /// <summary>The folder whose tokenizer the student uses (init_from, else data_dir).</summary>
    public string StudentTokenizerDir { get; private set; } = "";

    private DistillationRun() { }

    /// <summary>
    /// Opens the data, checks every teacher (folder, same tokenizer files as the student's) and, with a cache, reads it or
    /// builds it first (<paramref name="buildCache"/> false: a missing cache is an error). Throws <see cref="ConfigException"/>
    /// or <see cref="DataException"/> for bad input before anything is written. <paramref name="shard"/>: this rank's share of
    /// every training batch under data parallelism (default: all of it).
    /// </summary>
    public static DistillationRun Open(TrainConfig c, Action<string>? log = null, bool buildCache = true, DataShard? shard = null)
    {
        var d = c.Distill ?? throw new ConfigException("no distill section: give distill.teachers (or --teacher DIR)");
        d.Validate();
        log ??= _ => { };
        var run = new DistillationRun();
        try
        {
            run.Prepare(c, d, log, buildCache, shard ?? DataShard.Whole);
            return run;
        }
        catch { run.Dispose(); throw; }
    }

    private void Prepare(TrainConfig c, DistillConfig d, Action<string> log, bool buildCache, DataShard shard)
    {
        IDistillData data;
        Func<DataSplit, IReadOnlyList<long[]>> sequences;
        string fingerprint;
        if (d.Data == "text")
        {
            if (c.DataDir.Length == 0) throw new ConfigException("distill.data text needs data_dir (a folder from `sharpseek data prepare`)");
            StudentTokenizerDir = c.InitFrom ?? c.DataDir;
            CheckTeachers(d);
            var dataset = TokenDataset.Open(c.DataDir);
            _owned.Add(dataset);
            DataVocabSize = TokenizerVocabSize = dataset.Meta.VocabSize;
            ExtraFiles = TokenizerFiles.Names.Select(n => Path.Combine(c.DataDir, n)).Where(File.Exists).ToList();
            if (d.Cache is null)
            {
                var batches = new TokenDatasetBatchSource(dataset, (ulong)c.Seed);
                data = new WindowData(batches, c.BatchSize, c.BlockSize, shard);
                sequences = _ => [];
                fingerprint = "";
            }
            else
            {
                var aligned = new AlignedWindowData(dataset, c.BatchSize, c.BlockSize, (ulong)c.Seed, shard);
                data = aligned;
                sequences = aligned.Windows;
                fingerprint = TeacherCache.Sha256Files([dataset.Train.Path, dataset.Val.Path]);
            }
        }
        else
        {
            var sft = c.Sft ?? throw new ConfigException("distill.data sft needs the sft section (sft.data = a JSONL file)");
            if (c.InitFrom is null) throw new ConfigException("distill.data sft fine-tunes a student folder: pass --init-from DIR (a model with its tokenizer)");
            StudentTokenizerDir = c.InitFrom;
            CheckTeachers(d);
            var chat = ChatTokenizerSetup.For(c.InitFrom, sft.Template);
            _owned.Add(chat);
            var dataset = SftDataset.Load(sft.Data, sft.ValData, sft.ValFraction, sft.SystemPrompt, chat.Template, chat.Tokenizer, c.BlockSize);
            log($"chat template {chat.Template.Name}" + (chat.AddedTokenCount > 0 ? $"; added {chat.AddedTokenCount} special tokens to the tokenizer ({chat.VocabSize:N0} ids)" : ""));
            log(dataset.Describe(c.BlockSize));
            DataVocabSize = TokenizerVocabSize = chat.VocabSize;
            AddedTokens = chat.AddedTokenCount;
            ExtraFiles = chat.Files;
            var sftData = new SftDistillData(dataset.Train, dataset.Val, c.BatchSize, c.BlockSize, sft.Packing, chat.PadId, shard);
            data = sftData;
            sequences = sftData.Sequences;
            fingerprint = sftData.Fingerprint();
        }

        ISoftTargets targets;
        if (d.Cache is null) targets = new LiveTeachers(LoadTeachers(d), d.NormalizedWeights, d.Temperature);
        else
        {
            string path = TeacherCache.PathIn(d.Cache.Dir);
            var teacherVocab = File.Exists(path) ? TeacherVocab(path) : LoadTeachers(d)[0].VocabSize;
            var identity = TeacherCache.Identity(d.Teachers.Select(t => t.Path).ToList(), d.NormalizedWeights, d.Temperature, d.Cache.TopK,
                                                 teacherVocab, d.Data, c.BlockSize, fingerprint);
            if (!File.Exists(path))
            {
                if (!buildCache) throw new ConfigException($"teacher cache {path} does not exist; build it with `sharpseek distill cache`");
                BuildCache(path, identity, d, sequences, c.BatchSize, log);
            }
            else log($"teacher cache {path}: identity matches; the teachers are not loaded");
            var (train, val) = TeacherCache.Read(path, identity);
            targets = new CachedTargets(train, val, teacherVocab);
        }
        Objective = new DistillationObjective(data, targets, d.Temperature, d.Alpha, d.Divergence, d.MixWeight);
        var inv = CultureInfo.InvariantCulture;
        string teachers = string.Join(", ", d.Teachers.Zip(d.NormalizedWeights, (t, w) => $"{t.Path} ×{w.ToString("G3", inv)}"));
        string kl = d.Kl == "mix" ? $"mix (λ {d.MixWeight.ToString(inv)})" : d.Kl;
        string source = d.Cache is null ? "teachers run every step" : $"top-{d.Cache.TopK} cache {d.Cache.Dir}";
        log($"distill: {d.Teachers.Count} teacher(s) [{teachers}], τ {d.Temperature.ToString(inv)}, α {d.Alpha.ToString(inv)}, kl {kl}, data {d.Data}, {source}");
    }

    /// <summary>
    /// Builds (or, when present, checks) the teacher cache of <paramref name="c"/> without training: what
    /// <c>sharpseek distill cache</c> runs. Returns the cache file.
    /// </summary>
    public static string EnsureCache(TrainConfig c, Action<string>? log = null)
    {
        var d = c.Distill ?? throw new ConfigException("no distill section: give distill.teachers (or --teacher DIR)");
        if (d.Cache is null) throw new ConfigException("no distill.cache section: set distill.cache = {\"dir\": DIR, \"top_k\": K}");
        using var run = Open(c, log, buildCache: true);
        return TeacherCache.PathIn(d.Cache.Dir);
    }

    private List<CausalLM>? _teachers;

    private List<CausalLM> LoadTeachers(DistillConfig d)
    {
        if (_teachers is not null) return _teachers;
        _teachers = d.Teachers.Select(t => ModelLoader.Load(t.Path)).ToList();
        foreach (var t in _teachers) _owned.Add(t);
        for (int i = 1; i < _teachers.Count; i++)
            if (_teachers[i].VocabSize != _teachers[0].VocabSize)
                throw new ConfigException($"teachers {d.Teachers[0].Path} and {d.Teachers[i].Path} have vocabularies of {_teachers[0].VocabSize} and {_teachers[i].VocabSize} tokens; distillation needs one vocabulary");
        return _teachers;
    }

    /// <summary>Every teacher folder exists and holds the student's tokenizer (same vocabulary and merges, not just the same size).</summary>
    private void CheckTeachers(DistillConfig d)
    {
        if (!Directory.Exists(StudentTokenizerDir)) throw new ConfigException($"student folder {StudentTokenizerDir} does not exist");
        foreach (var t in d.Teachers)
        {
            if (!Directory.Exists(t.Path)) throw new ConfigException($"teacher folder {t.Path} does not exist");
            if (!File.Exists(Path.Combine(t.Path, "config.json"))) throw new ConfigException($"teacher folder {t.Path} holds no config.json (not a model folder)");
            if (TokenizerComparison.Difference(t.Path, StudentTokenizerDir) is { } why)
                throw new ConfigException($"teacher {t.Path} and student {StudentTokenizerDir} use different tokenizers ({why}); distillation needs one tokenizer");
        }
    }

    private void BuildCache(string path, JsonObject identity, DistillConfig d, Func<DataSplit, IReadOnlyList<long[]>> sequences, int batchSize, Action<string> log)
    {
        var teachers = LoadTeachers(d);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var train = sequences(DataSplit.Train);
        var val = sequences(DataSplit.Val);
        log($"teacher cache {path}: computing top-{d.Cache!.TopK} targets of {teachers.Count} teacher(s) over {train.Sum(s => (long)s.Length):N0} train and {val.Sum(s => (long)s.Length):N0} val positions");
        int batch = Math.Max(batchSize, 16);
        var trainTargets = TeacherCache.Compute(teachers, d.NormalizedWeights, d.Temperature, d.Cache.TopK, train, batch);
        var valTargets = TeacherCache.Compute(teachers, d.NormalizedWeights, d.Temperature, d.Cache.TopK, val, batch);
        TeacherCache.Write(path, identity, trainTargets, valTargets);
        log(string.Create(CultureInfo.InvariantCulture, $"teacher cache {path}: written in {clock.Elapsed.TotalSeconds:F1} s ({new FileInfo(path).Length / 1e6:F1} MB)"));
    }

    private static int TeacherVocab(string path) =>
        TeacherCache.ReadIdentity(path)["vocab_size"]?.GetValue<int>() ?? throw new ConfigException($"teacher cache {path} has no vocab_size");

    public void Dispose()
    {
        foreach (var o in _owned) o.Dispose();
        _owned.Clear();
    }
}
