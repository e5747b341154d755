using System.Text.Json;
using System.Text.Json.Serialization;
using SharpSeek.Data;
using SharpSeek.Data.Tasks;

namespace SharpSeek.Evaluation.Suite;

/// <summary>
/// One task of an evaluation suite. Kinds: <c>perplexity</c> (held-out tail of a corpus), <c>generation</c> (exact match on
/// a verifiable generator: arithmetic, countdown, letters, linear, probe-copy/reverse/sort/brackets/count), <c>gsm8k</c>
/// (exact match on the number after ####), <c>choice</c> (multiple choice by log-likelihood: a JSONL file, or
/// <c>cloze:SOURCE</c> for next-line cloze built from a corpus's held-out tail).
/// </summary>
public sealed record SuiteTask
{
    public const string Perplexity = "perplexity", Generation = "generation", Gsm8k = "gsm8k", Choice = "choice";
    public static readonly IReadOnlyList<string> Kinds = [Perplexity, Generation, Gsm8k, Choice];

    [JsonPropertyName("name")] public string? Name { get; init; }
    [JsonPropertyName("kind")] public string Kind { get; init; } = "";

    /// <summary>A corpus name (moby-dick, sotu, kjv, tang-poems: fetched), a file (relative to the data folder), or a generator name.</summary>
    [JsonPropertyName("source")] public string Source { get; init; } = "";

    /// <summary>Examples (generation, gsm8k, choice).</summary>
    [JsonPropertyName("n")] public int N { get; init; } = 50;

    [JsonPropertyName("seed")] public ulong Seed { get; init; }

    /// <summary>Generator levels, e.g. "1" or "1-3" (generation).</summary>
    [JsonPropertyName("levels")] public string Levels { get; init; } = "1";

    /// <summary>Most new tokens per completion (generation, gsm8k); clipped to the room the context leaves.</summary>
    [JsonPropertyName("max_tokens")] public int MaxTokens { get; init; } = 32;

    /// <summary>Held-out characters from the end of the corpus (perplexity, cloze).</summary>
    [JsonPropertyName("chars")] public int Chars { get; init; } = 20_000;

    /// <summary>Scoring window (perplexity); 0 = the model's context.</summary>
    [JsonPropertyName("block_size")] public int BlockSize { get; init; }

    /// <summary>The name shown in tables: <see cref="Name"/> or kind/source[/levels].</summary>
    [JsonIgnore] public string Label => Name ?? (Kind == Generation ? $"{Source} L{Levels}" : $"{Kind} {Source}");
}

/// <summary>An evaluation suite: a name and its tasks (JSON, snake_case).</summary>
public sealed record SuiteConfig
{
    [JsonPropertyName("name")] public string Name { get; init; } = "suite";
    [JsonPropertyName("tasks")] public IReadOnlyList<SuiteTask> Tasks { get; init; } = [];

    private static readonly JsonSerializerOptions Options = new() { ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Built-in suite names.</summary>
    public static readonly IReadOnlyList<string> BuiltinNames = ["standard"];

    /// <summary>A built-in suite by name, or the suite file at <paramref name="nameOrPath"/>; validated.</summary>
    public static SuiteConfig Load(string nameOrPath)
    {
        if (nameOrPath == "standard") return Standard();
        if (!File.Exists(nameOrPath)) throw new ConfigException($"suite '{nameOrPath}' is neither a built-in suite ({string.Join(", ", BuiltinNames)}) nor a file");
        SuiteConfig? suite;
        try { suite = JsonSerializer.Deserialize<SuiteConfig>(File.ReadAllText(nameOrPath), Options); }
        catch (JsonException e) { throw new ConfigException($"suite file {nameOrPath} is not a valid suite: {e.Message}"); }
        if (suite is null) throw new ConfigException($"suite file {nameOrPath} is empty");
        suite.Validate(nameOrPath);
        return suite;
    }

    /// <summary>Throws <see cref="ConfigException"/> naming the first task with a bad kind, source, count or level.</summary>
    public void Validate(string where)
    {
        if (Tasks.Count == 0) throw new ConfigException($"suite {where} has no tasks");
        for (int i = 0; i < Tasks.Count; i++)
        {
            var t = Tasks[i];
            string at = $"suite {where} task {i + 1}";
            if (!SuiteTask.Kinds.Contains(t.Kind)) throw new ConfigException($"{at}: kind '{t.Kind}' is not one of {string.Join(", ", SuiteTask.Kinds)}");
            if (string.IsNullOrWhiteSpace(t.Source)) throw new ConfigException($"{at}: give a source");
            if (t.N < 1) throw new ConfigException($"{at}: n must be at least 1, not {t.N}");
            if (t.MaxTokens < 1) throw new ConfigException($"{at}: max_tokens must be at least 1, not {t.MaxTokens}");
            if (t.Chars < 100) throw new ConfigException($"{at}: chars must be at least 100, not {t.Chars}");
            if (t.BlockSize < 0) throw new ConfigException($"{at}: block_size must be 0 (the model's context) or more, not {t.BlockSize}");
            if (t.Kind == SuiteTask.Generation) TaskExport.ParseLevels(t.Levels, Generator(t.Source));
        }
        var dup = Tasks.GroupBy(t => t.Label).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ConfigException($"suite {where} has two tasks called '{dup.Key}'; give them distinct names");
    }

    /// <summary>A built-in generator or an algorithmic probe (probe-copy, …) by name.</summary>
    public static ITaskGenerator Generator(string name) =>
        name.StartsWith("probe-", StringComparison.Ordinal) ? new ProbeGenerator(name["probe-".Length..]) : TaskGenerators.ByName(name);

    /// <summary>
    /// The built-in <c>standard</c> suite (22 tasks): perplexity on the four fetchable corpora and Tiny Shakespeare,
    /// next-line cloze on four of them, arithmetic levels 1–3, Countdown 1–2, letters, linear equations, GSM8K, and the five
    /// algorithmic probes. Files are relative to the data folder: tinyshakespeare/input.txt, gsm8k/test.jsonl.
    /// </summary>
    public static SuiteConfig Standard()
    {
        const string shakespeare = "tinyshakespeare/input.txt";
        var tasks = new List<SuiteTask>();
        foreach (var corpus in CorpusFetcher.Known.Select(k => k.Name).Append(shakespeare))
            tasks.Add(new SuiteTask { Name = $"ppl {Short(corpus)}", Kind = SuiteTask.Perplexity, Source = corpus });
        foreach (var corpus in new[] { "moby-dick", "sotu", "kjv", shakespeare })
            tasks.Add(new SuiteTask { Name = $"cloze {Short(corpus)}", Kind = SuiteTask.Choice, Source = "cloze:" + corpus, N = 100, Seed = 1 });
        foreach (var level in new[] { "1", "2", "3" })
            tasks.Add(new SuiteTask { Name = $"arithmetic L{level}", Kind = SuiteTask.Generation, Source = "arithmetic", Levels = level, Seed = 1, MaxTokens = 48 });
        foreach (var level in new[] { "1", "2" })
            tasks.Add(new SuiteTask { Name = $"countdown L{level}", Kind = SuiteTask.Generation, Source = "countdown", Levels = level, Seed = 1, MaxTokens = 64 });
        tasks.Add(new SuiteTask { Name = "letters L1-4", Kind = SuiteTask.Generation, Source = "letters", Levels = "1-4", Seed = 1, MaxTokens = 64 });
        tasks.Add(new SuiteTask { Name = "linear L1", Kind = SuiteTask.Generation, Source = "linear", Levels = "1", Seed = 1, MaxTokens = 64 });
        tasks.Add(new SuiteTask { Name = "gsm8k", Kind = SuiteTask.Gsm8k, Source = "gsm8k/test.jsonl", N = 50, MaxTokens = 128 });
        foreach (var probe in ProbeGenerator.Names)
            tasks.Add(new SuiteTask { Name = $"probe {probe}", Kind = SuiteTask.Generation, Source = "probe-" + probe, Levels = "1-3", Seed = 1, MaxTokens = 24 });
        var suite = new SuiteConfig { Name = "standard", Tasks = tasks };
        suite.Validate("standard");
        return suite;
    }

    private static string Short(string source) => source.Contains('/') ? source.Split('/')[0].Replace("tiny", "", StringComparison.Ordinal) : source;
}
