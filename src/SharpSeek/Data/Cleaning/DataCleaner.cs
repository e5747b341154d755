using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using SharpSeek.Checkpoints;

namespace SharpSeek.Data.Cleaning;

/// <summary>Settings of <see cref="DataCleaner"/> (defaults after Gopher's and C4's heuristics, scaled to small corpora).</summary>
public sealed record CleanOptions
{
    /// <summary>Documents: blank-line separated paragraphs of a text file ("blank"), or this literal line between documents (e.g. "&lt;|endoftext|&gt;"). Ignored for JSONL.</summary>
    [JsonPropertyName("separator")] public string Separator { get; init; } = "blank";

    /// <summary>For JSONL input: the field holding the text.</summary>
    [JsonPropertyName("jsonl_field")] public string JsonlField { get; init; } = "text";

    [JsonPropertyName("min_chars")] public int MinChars { get; init; } = 50;
    [JsonPropertyName("max_chars")] public int MaxChars { get; init; } = 1_000_000;

    /// <summary>Highest share of non-letter, non-space characters (digits, punctuation, symbols) a document may have.</summary>
    [JsonPropertyName("max_symbol_ratio")] public double MaxSymbolRatio { get; init; } = 0.4;

    /// <summary>Highest share of a document's lines that repeat an earlier line of it (Gopher: 0.3).</summary>
    [JsonPropertyName("max_repeated_line_ratio")] public double MaxRepeatedLineRatio { get; init; } = 0.3;

    /// <summary>Languages kept (labels of <see cref="DocumentStats.Language"/>); empty = all.</summary>
    [JsonPropertyName("languages")] public IReadOnlyList<string> Languages { get; init; } = ["en", "zh"];

    [JsonPropertyName("exact_dedup")] public bool ExactDedup { get; init; } = true;

    /// <summary>Near-duplicate Jaccard threshold on 5-character shingles; 0 turns near-duplicate removal off.</summary>
    [JsonPropertyName("near_dup_threshold")] public double NearDupThreshold { get; init; } = 0.8;

    /// <summary>False = keep near-duplicates, labelled with the cluster of the first document they resemble.</summary>
    [JsonPropertyName("remove_near_duplicates")] public bool RemoveNearDuplicates { get; init; } = true;

    [JsonPropertyName("minhash_permutations")] public int MinHashPermutations { get; init; } = 128;

    /// <summary>Examples kept per removal reason in the report.</summary>
    [JsonPropertyName("examples")] public int Examples { get; init; } = 3;

    public void Validate()
    {
        if (MinChars < 0 || MaxChars < MinChars) throw new ConfigException($"need 0 ≤ min_chars ≤ max_chars, not {MinChars} and {MaxChars}");
        if (MaxSymbolRatio is < 0 or > 1) throw new ConfigException($"max_symbol_ratio must be in [0, 1], not {MaxSymbolRatio}");
        if (MaxRepeatedLineRatio is < 0 or > 1) throw new ConfigException($"max_repeated_line_ratio must be in [0, 1], not {MaxRepeatedLineRatio}");
        if (NearDupThreshold is < 0 or > 1) throw new ConfigException($"near_dup_threshold must be in [0, 1] (0 = off), not {NearDupThreshold}");
        if (MinHashPermutations < 1) throw new ConfigException($"minhash_permutations must be at least 1, not {MinHashPermutations}");
        if (string.IsNullOrEmpty(Separator)) throw new ConfigException("the document separator must not be empty");
        string[] known = ["en", "zh", "latin", "other", "none"];
        foreach (var l in Languages)
            if (!known.Contains(l)) throw new ConfigException($"unknown language label '{l}': give some of {string.Join(", ", known)} or all");
    }
}

/// <summary>One removal step of the report: how many documents it removed and a few examples with the reason.</summary>
public sealed class CleanStep
{
    [JsonPropertyName("step")] public required string Step { get; init; }
    [JsonPropertyName("removed")] public int Removed { get; set; }
    [JsonPropertyName("removed_chars")] public long RemovedChars { get; set; }
    [JsonPropertyName("examples")] public List<CleanExample> Examples { get; } = [];
}

/// <summary>A removed document (its start) and why.</summary>
public sealed record CleanExample([property: JsonPropertyName("doc")] int Doc, [property: JsonPropertyName("reason")] string Reason, [property: JsonPropertyName("text")] string Text);

/// <summary>What a cleaning run read, kept and removed, step by step, with its speed.</summary>
public sealed class CleanReport
{
    [JsonPropertyName("input")] public required string Input { get; init; }
    [JsonPropertyName("output")] public required string Output { get; init; }
    [JsonPropertyName("options")] public required CleanOptions Options { get; init; }
    [JsonPropertyName("documents_in")] public int DocumentsIn { get; set; }
    [JsonPropertyName("documents_out")] public int DocumentsOut { get; set; }
    [JsonPropertyName("bytes_in")] public long BytesIn { get; set; }
    [JsonPropertyName("chars_out")] public long CharsOut { get; set; }
    [JsonPropertyName("normalized_changed")] public int NormalizedChanged { get; set; }
    [JsonPropertyName("steps")] public List<CleanStep> Steps { get; } = [];
    [JsonPropertyName("labels")] public Dictionary<string, Dictionary<string, int>> Labels { get; } = new();
    [JsonPropertyName("seconds")] public double Seconds { get; set; }
    [JsonPropertyName("mb_per_second")] public double MbPerSecond => Seconds > 0 ? BytesIn / 1e6 / Seconds : 0;

    /// <summary>CPU time of the process during the run (all threads): on a shared machine MB per CPU second is the steadier speed.</summary>
    [JsonPropertyName("cpu_seconds")] public double CpuSeconds { get; set; }
    [JsonPropertyName("mb_per_cpu_second")] public double MbPerCpuSecond => CpuSeconds > 0 ? BytesIn / 1e6 / CpuSeconds : 0;

    /// <summary>A few lines for a console.</summary>
    public string Summary()
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{DocumentsIn:N0} documents in ({BytesIn / 1e6:F2} MB), {DocumentsOut:N0} kept, {Seconds:F2} s ({MbPerSecond:F2} MB/s; {MbPerCpuSecond:F2} MB per CPU second); {NormalizedChanged:N0} changed by normalisation"));
        foreach (var s in Steps)
        {
            sb.AppendLine($"  {s.Step}: removed {s.Removed:N0} documents ({s.RemovedChars:N0} characters)");
            foreach (var e in s.Examples) sb.AppendLine($"    #{e.Doc} {e.Reason}: {e.Text}");
        }
        foreach (var (label, counts) in Labels)
            sb.AppendLine($"  {label}: {string.Join(", ", counts.OrderByDescending(c => c.Value).Select(c => $"{c.Key} {c.Value:N0}"))}");
        return sb.ToString().TrimEnd();
    }
}

/// <summary>
/// Streams documents from a text or JSONL file through normalisation, filters (length, symbol ratio, repeated lines,
/// language), exact deduplication (hash) and near-duplicate removal (MinHash + LSH), and writes the kept ones as JSONL with
/// automatic labels (language, length bucket, quality score, near-duplicate cluster). Memory holds one document plus, per
/// kept document, an 8-byte hash and a MinHash signature.
/// </summary>
public static class DataCleaner
{
    public const string Normalize = "normalize", Length = "length", Symbols = "symbol_ratio", RepeatedLines = "repeated_lines",
        LanguageStep = "language", Exact = "exact_duplicate", Near = "near_duplicate";

    private static readonly JsonSerializerOptions JsonLine = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Cleans <paramref name="input"/> into <paramref name="output"/> (JSONL, temporary file + rename) and returns the report.</summary>
    public static CleanReport Run(string input, string output, CleanOptions options)
    {
        options.Validate();
        if (!File.Exists(input)) throw new DataException($"input file {input} does not exist");
        if (Path.GetFullPath(input) == Path.GetFullPath(output)) throw new ConfigException("the output must not be the input file");
        var report = new CleanReport { Input = input, Output = output, Options = options, BytesIn = new FileInfo(input).Length };
        var steps = new[] { Normalize, Length, Symbols, RepeatedLines, LanguageStep, Exact, Near }.ToDictionary(s => s, s => new CleanStep { Step = s });
        foreach (var s in steps.Values) report.Steps.Add(s);
        var exact = new ExactDeduplicator();
        var minHash = options.NearDupThreshold > 0 ? new MinHash(options.MinHashPermutations) : null;
        var lsh = minHash is null ? null : new LshIndex(options.MinHashPermutations, options.NearDupThreshold);
        var clusterSize = new Dictionary<int, int>();
        var clock = Stopwatch.StartNew();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        string tmp = output + ".tmp";
        using (var writer = new StreamWriter(tmp, false, new UTF8Encoding(false), 1 << 16) { NewLine = "\n" })
        {
            int id = -1;
            foreach (var raw in ReadDocuments(input, options))
            {
                id++;
                report.DocumentsIn++;
                string text = TextNormalizer.Normalize(raw);
                if (text != raw.Trim()) report.NormalizedChanged++;
                if (text.Length == 0) { Remove(steps[Normalize], id, "empty after normalisation", raw, options); continue; }
                int chars = DocumentStats.Chars(text);
                if (chars < options.MinChars || chars > options.MaxChars)
                { Remove(steps[Length], id, $"{chars} characters, outside [{options.MinChars}, {options.MaxChars}]", text, options); continue; }
                double symbols = TextCleaning.NonLetterRatio(text);
                if (symbols > options.MaxSymbolRatio)
                { Remove(steps[Symbols], id, $"symbol ratio {DocumentStats.F3(symbols)} > {DocumentStats.F3(options.MaxSymbolRatio)}", text, options); continue; }
                double repeated = DocumentStats.RepeatedLineRatio(text);
                if (repeated > options.MaxRepeatedLineRatio)
                { Remove(steps[RepeatedLines], id, $"repeated-line ratio {DocumentStats.F3(repeated)} > {DocumentStats.F3(options.MaxRepeatedLineRatio)}", text, options); continue; }
                string lang = DocumentStats.Language(text);
                if (options.Languages.Count > 0 && !options.Languages.Contains(lang))
                { Remove(steps[LanguageStep], id, $"language {lang} not in {string.Join(",", options.Languages)}", text, options); continue; }
                if (options.ExactDedup && !exact.Add(text)) { Remove(steps[Exact], id, "same text as an earlier document", text, options); continue; }
                int cluster = id;
                if (minHash is not null)
                {
                    var signature = minHash.Signature(text);
                    if (lsh!.FindDuplicate(signature) is var (first, similarity))
                    {
                        clusterSize[first] = clusterSize.GetValueOrDefault(first, 1) + 1;
                        if (options.RemoveNearDuplicates)
                        {
                            Remove(steps[Near], id, $"near-duplicate of #{first} (estimated Jaccard {DocumentStats.F3(similarity)})", text, options);
                            continue;
                        }
                        cluster = first;
                    }
                    else lsh.Add(id, signature);
                }
                var labels = new DocumentLabels(id, lang, DocumentStats.LengthBucket(chars), DocumentStats.Quality(symbols, repeated, chars, lang), cluster, chars);
                writer.WriteLine(JsonSerializer.Serialize(new CleanDocument(text, labels), JsonLine));
                report.DocumentsOut++;
                report.CharsOut += text.Length;
                Count(report, "language", lang);
                Count(report, "length_bucket", labels.LengthBucket);
                Count(report, "quality", labels.Quality switch { >= 0.9 => "≥0.9", >= 0.75 => "0.75-0.9", >= 0.5 => "0.5-0.75", _ => "<0.5" });
            }
        }
        File.Move(tmp, output, overwrite: true);
        report.Seconds = clock.Elapsed.TotalSeconds;
        report.CpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        report.Labels["near_dup_clusters"] = new Dictionary<string, int>
        {
            ["clusters with near-duplicates"] = clusterSize.Count,
            ["largest cluster"] = clusterSize.Count == 0 ? 1 : clusterSize.Values.Max(),
        };
        return report;
    }

    /// <summary>The documents of <paramref name="path"/>: JSONL (by extension .jsonl) objects' <c>jsonl_field</c>, else text split by the separator; streamed.</summary>
    public static IEnumerable<string> ReadDocuments(string path, CleanOptions options)
    {
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            int n = 0;
            foreach (var line in File.ReadLines(path, AtomicFiles.StrictUtf8))
            {
                n++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                string? text;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    text = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(options.JsonlField, out var f) && f.ValueKind == JsonValueKind.String
                        ? f.GetString() : null;
                }
                catch (JsonException) { throw new DataException($"{path} line {n} is not a JSON object"); }
                yield return text ?? throw new DataException($"{path} line {n} has no string field '{options.JsonlField}'");
            }
            yield break;
        }
        var sb = new StringBuilder();
        bool blank = options.Separator == "blank";
        IEnumerable<string> lines;
        try { lines = File.ReadLines(path, AtomicFiles.StrictUtf8); }
        catch (IOException e) { throw new DataException($"cannot read {path}: {e.Message}"); }
        using var e2 = lines.GetEnumerator();
        while (true)
        {
            bool more;
            try { more = e2.MoveNext(); }
            catch (DecoderFallbackException) { throw new DataException($"{path} is not UTF-8 text"); }
            if (!more) break;
            string line = e2.Current;
            bool boundary = blank ? string.IsNullOrWhiteSpace(line) : line.Trim() == options.Separator;
            if (boundary)
            {
                if (sb.Length > 0) { yield return sb.ToString(); sb.Clear(); }
                continue;
            }
            sb.Append(line).Append('\n');
        }
        if (sb.Length > 0) yield return sb.ToString();
    }

    private static void Remove(CleanStep step, int id, string reason, string text, CleanOptions options)
    {
        step.Removed++;
        step.RemovedChars += text.Length;
        if (step.Examples.Count < options.Examples)
        {
            string head = text.Replace('\n', ' ');
            step.Examples.Add(new CleanExample(id, reason, head.Length > 80 ? head[..80] + "…" : head));
        }
    }

    private static void Count(CleanReport report, string label, string value)
    {
        if (!report.Labels.TryGetValue(label, out var counts)) report.Labels[label] = counts = new Dictionary<string, int>();
        counts[value] = counts.GetValueOrDefault(value) + 1;
    }
}

/// <summary>The labels written next to a kept document.</summary>
public sealed record DocumentLabels(
    [property: JsonPropertyName("id")] int Id,
    [property: JsonPropertyName("language")] string Language,
    [property: JsonPropertyName("length_bucket")] string LengthBucket,
    [property: JsonPropertyName("quality")] double Quality,
    [property: JsonPropertyName("near_dup_cluster")] int NearDupCluster,
    [property: JsonPropertyName("chars")] int Chars);

/// <summary>One output JSONL line: the cleaned text and its labels.</summary>
public sealed record CleanDocument([property: JsonPropertyName("text")] string Text, [property: JsonPropertyName("labels")] DocumentLabels Labels);
