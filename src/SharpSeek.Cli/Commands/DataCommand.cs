using System.CommandLine;
using SharpSeek.Data;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek data fetch|prepare</c>: get a corpus as plain text, then tokenize it into train.bin/val.bin; <c>data tasks|pairs</c>: see <see cref="TaskDataCommands"/>.</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var command = new Command("data", "Fetch corpora and prepare token files for training.");
        command.Subcommands.Add(Fetch());
        command.Subcommands.Add(Prepare());
        command.Subcommands.Add(TaskDataCommands.Tasks());
        command.Subcommands.Add(TaskDataCommands.Pairs());
        command.Subcommands.Add(TraceDataCommand.Traces());
        command.Subcommands.Add(DataCleanCommand.Clean());
        return command;
    }

    private static Command Prepare()
    {
        var input = new Option<string>("--input") { Description = "UTF-8 text corpus (e.g. from 'data fetch').", Required = true };
        var tokenizer = new Option<string>("--tokenizer") { Description = "char (the corpus's characters), gpt2 (GPT-2 BPE), or a tokenizer folder.", DefaultValueFactory = _ => "char" };
        var output = new Option<string>("--out") { Description = "Data folder to write: train.bin, val.bin, meta.json and the tokenizer files.", Required = true };
        var valFraction = new Option<double>("--val-fraction") { Description = "Share of the corpus, from its end, kept for validation.", DefaultValueFactory = _ => 0.1 };
        var dtype = new Option<string>("--dtype") { Description = "Token storage: auto (uint16 when the vocabulary fits), uint16 or uint32.", DefaultValueFactory = _ => "auto" };
        var dedup = new Option<bool>("--dedup") { Description = "Drop paragraphs that exactly repeat an earlier one." };
        var minChars = new Option<int>("--min-chars") { Description = "Drop paragraphs with fewer non-space characters than this.", DefaultValueFactory = _ => 0 };
        var maxNonLetter = new Option<double>("--max-non-letter") { Description = "Drop paragraphs whose share of non-letter characters is above this (0..1).", DefaultValueFactory = _ => 1.0 };
        var cache = new Option<string?>("--cache") { Description = "Cache folder for the GPT-2 tokenizer files (default $SHARPSEEK_CACHE or ~/.cache/sharpseek)." };
        var command = new Command("prepare", "Tokenize a corpus into memory-mapped train.bin/val.bin token files (nanoGPT layout) and print statistics.")
        {
            input, tokenizer, output, valFraction, dtype, dedup, minChars, maxNonLetter, cache,
        };
        command.SetSafeAction((parse, stdout) =>
        {
            string dt = parse.GetValue(dtype)!;
            var options = new PrepareOptions
            {
                Input = parse.GetValue(input)!, OutDir = parse.GetValue(output)!, Tokenizer = parse.GetValue(tokenizer)!,
                ValFraction = parse.GetValue(valFraction), Dedup = parse.GetValue(dedup),
                MinParagraphChars = parse.GetValue(minChars), MaxNonLetterRatio = parse.GetValue(maxNonLetter),
                DType = dt == "auto" ? null : TokenDataMeta.ParseDType(dt, "--dtype"),
            };
            var report = TokenDataPreparer.Prepare(options, new DataTokenizers(parse.GetValue(cache) ?? CorpusFetcher.DefaultCacheDir));
            stdout.WriteLine($"{options.OutDir}: {report.Summary()}");
            return 0;
        });
        return command;
    }

    private static Command Fetch()
    {
        var name = new Argument<string>("name")
        {
            Description = $"A corpus name ({string.Join(", ", CorpusFetcher.Known.Select(k => k.Name))}), a text file, a folder of .txt files, or a .jsonl file.",
        };
        var output = new Option<string>("--out") { Description = "Folder for NAME.txt and its card NAME.json.", DefaultValueFactory = _ => "data" };
        var jsonlField = new Option<string?>("--jsonl-field") { Description = "For a .jsonl source: the field holding each document's text." };
        var cache = new Option<string?>("--cache") { Description = "Cache folder for downloaded packages (default $SHARPSEEK_CACHE or ~/.cache/sharpseek)." };
        var command = new Command("fetch", "Fetch a corpus as plain UTF-8 text plus a JSON card (source, licence, bytes, characters).") { name, output, jsonlField, cache };
        command.SetSafeAction((parse, stdout) =>
        {
            var fetcher = new CorpusFetcher(new ProcessPackageClient(), parse.GetValue(cache) ?? CorpusFetcher.DefaultCacheDir);
            string outDir = parse.GetValue(output)!;
            var card = fetcher.Fetch(parse.GetValue(name)!, outDir, parse.GetValue(jsonlField));
            stdout.WriteLine($"{Path.Combine(outDir, card.TextFile)}: {card.Bytes:N0} bytes, {card.Characters:N0} characters, {card.Documents:N0} documents");
            stdout.WriteLine($"source: {card.Source}; licence: {card.Licence}");
            return 0;
        });
        return command;
    }
}
