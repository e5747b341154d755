using System.CommandLine;
using SharpSeek.Data.Preference;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// What <c>reward</c> and <c>dpo</c> share: --data/--val-data as preference.data/val_data, the config (init_from required),
/// the tokenizer and chat template of the init_from folder, the pairs read, split and encoded before any model loads or
/// anything is written, and the tokenizer files every checkpoint carries.
/// </summary>
internal sealed class PreferenceVerb
{
    public TrainingVerb Verb { get; } = new();
    public Option<string?> Data { get; } = new("--data") { Description = "JSONL preference pairs {\"prompt\", \"chosen\", \"rejected\"}; same as --set preference.data=…" };
    public Option<string?> ValData { get; } = new("--val-data") { Description = "Held-out JSONL pairs (default: a hash split of --data, preference.val_fraction); same as --set preference.val_data=…" };

    /// <summary>The verb's config: --config, <paramref name="extra"/> (the verb's own shorthands), --set, --init-from, --out, --data, --val-data.</summary>
    public TrainConfig LoadConfig(ParseResult parse, IEnumerable<string>? extra = null)
    {
        var last = new List<string>(extra ?? []);
        if (parse.GetValue(Data) is { } d) last.Add($"preference.data={Quoted(d)}");
        if (parse.GetValue(ValData) is { } v) last.Add($"preference.val_data={Quoted(v)}");
        var c = Verb.LoadConfig(parse, last: last);
        if (c.InitFrom is null) throw new ConfigException("no model: pass --init-from DIR (a model folder, e.g. an SFT checkpoint)");
        if (c.Preference is null) throw new ConfigException("no data: pass --data FILE (JSONL preference pairs) or set preference.data");
        return c;
    }

    /// <summary>A JSON string literal, so --set never reads a path as a number or keyword.</summary>
    private static string Quoted(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    /// <summary>The encoded train and held-out pairs (<see cref="PreferenceData.Open"/>); every data problem is raised here, before a model is loaded.</summary>
    public static PreferenceBatches ReadPairs(TrainConfig c) => PreferenceData.Open(c.Preference!, c.InitFrom!, (ulong)c.Seed);

    /// <summary>The init_from folder's tokenizer files, copied into every checkpoint.</summary>
    public static IReadOnlyList<string> TokenizerFilesOf(TrainConfig c) =>
        TokenizerFiles.Names.Select(n => Path.Combine(c.InitFrom!, n)).Where(File.Exists).ToList();
}
