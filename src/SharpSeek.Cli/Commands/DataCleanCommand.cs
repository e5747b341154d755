using System.CommandLine;
using SharpSeek.Data.Cleaning;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek data clean IN OUT</c>: normalise, filter, deduplicate (exact and near) and label documents (<see cref="DataCleaner"/>).</summary>
public static class DataCleanCommand
{
    public static Command Clean()
    {
        var input = new Argument<string>("in") { Description = "Input: UTF-8 text (documents separated by blank lines or --separator) or .jsonl (--jsonl-field)." };
        var output = new Argument<string>("out") { Description = "Output JSONL: one {\"text\", \"labels\": {id, language, length_bucket, quality, near_dup_cluster, chars}} per kept document." };
        var d = new CleanOptions();
        var separator = new Option<string>("--separator") { Description = "Document separator of a text input: blank (blank lines) or a line of its own, e.g. <|endoftext|>.", DefaultValueFactory = _ => d.Separator };
        var field = new Option<string>("--jsonl-field") { Description = "Text field of a JSONL input.", DefaultValueFactory = _ => d.JsonlField };
        var minChars = new Option<int>("--min-chars") { Description = "Drop documents with fewer non-space characters.", DefaultValueFactory = _ => d.MinChars };
        var maxChars = new Option<int>("--max-chars") { Description = "Drop documents with more non-space characters.", DefaultValueFactory = _ => d.MaxChars };
        var symbols = new Option<double>("--max-symbol-ratio") { Description = "Drop documents whose share of non-letters (digits, punctuation, symbols) is above this.", DefaultValueFactory = _ => d.MaxSymbolRatio };
        var repeated = new Option<double>("--max-repeated-lines") { Description = "Drop documents whose share of lines repeating an earlier line is above this.", DefaultValueFactory = _ => d.MaxRepeatedLineRatio };
        var languages = new Option<string>("--languages") { Description = "Languages kept, comma-separated (en, zh, latin, other, none), or 'all'.", DefaultValueFactory = _ => string.Join(",", d.Languages) };
        var noExact = new Option<bool>("--no-exact-dedup") { Description = "Keep exact duplicates." };
        var threshold = new Option<double>("--near-dup-threshold") { Description = "Jaccard threshold (5-character shingles, MinHash + LSH) above which a document is a near-duplicate; 0 = off.", DefaultValueFactory = _ => d.NearDupThreshold };
        var keepNear = new Option<bool>("--keep-near-duplicates") { Description = "Keep near-duplicates, labelled with the cluster (id of the first document) they belong to." };
        var reportPath = new Option<string?>("--report") { Description = "Report JSON (counts and examples per step, labels, MB/s); default OUT.report.json." };
        var command = new Command("clean", "Clean and label a corpus: Unicode NFC and whitespace normalisation, length/symbol/repeated-line/language filters, exact and near-duplicate removal; JSONL out with labels and a report.")
        {
            input, output, separator, field, minChars, maxChars, symbols, repeated, languages, noExact, threshold, keepNear, reportPath,
        };
        command.SetSafeAction((parse, stdout) =>
        {
            string langs = parse.GetValue(languages)!;
            var options = new CleanOptions
            {
                Separator = parse.GetValue(separator)!, JsonlField = parse.GetValue(field)!, MinChars = parse.GetValue(minChars), MaxChars = parse.GetValue(maxChars),
                MaxSymbolRatio = parse.GetValue(symbols), MaxRepeatedLineRatio = parse.GetValue(repeated),
                Languages = langs == "all" ? [] : langs.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                ExactDedup = !parse.GetValue(noExact), NearDupThreshold = parse.GetValue(threshold), RemoveNearDuplicates = !parse.GetValue(keepNear),
            };
            string outPath = parse.GetValue(output)!;
            var report = DataCleaner.Run(parse.GetValue(input)!, outPath, options);
            string rp = parse.GetValue(reportPath) ?? outPath + ".report.json";
            TaskEval.WriteJson(rp, report);
            stdout.WriteLine($"{outPath}: {report.Summary()}");
            stdout.WriteLine($"report: {rp}");
            return 0;
        });
        return command;
    }
}
