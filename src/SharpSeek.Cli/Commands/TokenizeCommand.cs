using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using SharpSeek.Tokenization;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek tokenize</c>: token ids and token strings of a text, with any tokenizer folder.</summary>
public static class TokenizeCommand
{
    private static readonly JsonSerializerOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenizer folder: tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, or char_vocab.json.", Required = true };
        var text = new Option<string?>("--text") { Description = "Text to tokenize." };
        var file = new Option<string?>("--file") { Description = "UTF-8 file to tokenize (instead of --text)." };
        var idsOnly = new Option<bool>("--ids") { Description = "Print only the ids, space-separated, on one line." };
        var command = new Command("tokenize", "Print the token ids (and token strings) of a text.") { tokenizer, text, file, idsOnly };
        command.SetSafeAction((parse, stdout) =>
        {
            var input = (parse.GetValue(text), parse.GetValue(file)) switch
            {
                ({ } t, null) => t,
                (null, { } f) => File.Exists(f) ? File.ReadAllText(f) : throw new TokenizerException($"Input file {f} does not exist."),
                _ => throw new SharpSeekException("Give exactly one of --text or --file."),
            };
            var tok = TokenizerLoader.Load(parse.GetValue(tokenizer)!);
            var ids = tok.Encode(input);
            if (parse.GetValue(idsOnly))
            {
                stdout.WriteLine(string.Join(' ', ids));
                return 0;
            }
            foreach (var id in ids) stdout.WriteLine($"{id}\t{JsonSerializer.Serialize(tok.TokenText(id), s_json)}");
            stdout.WriteLine($"{ids.Count} tokens");
            return 0;
        });
        return command;
    }
}
