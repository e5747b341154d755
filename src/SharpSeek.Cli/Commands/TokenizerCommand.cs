using System.CommandLine;
using System.Diagnostics;
using SharpSeek.Tokenization;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek tokenizer train</c>: train a byte-level BPE tokenizer (saved as tokenizer.json + vocab.json + merges.txt).</summary>
public static class TokenizerCommand
{
    public static Command Create()
    {
        var command = new Command("tokenizer", "Tokenizer tools.");
        command.Subcommands.Add(CreateTrain());
        return command;
    }

    private static Command CreateTrain()
    {
        var input = new Option<string[]>("--input") { Description = "UTF-8 text file(s) to train on (streamed).", Required = true, AllowMultipleArgumentsPerToken = true };
        var vocabSize = new Option<int>("--vocab-size") { Description = "Final vocabulary size (256 bytes + special tokens + merges).", DefaultValueFactory = _ => 4096 };
        var output = new Option<string>("--out") { Description = "Folder to write tokenizer.json, vocab.json, merges.txt, tokenizer_config.json.", Required = true };
        var special = new Option<string[]>("--special-token") { Description = "Special token (repeatable); ids 0..n-1. The first one is written as eos_token.", DefaultValueFactory = _ => [] };
        var minFrequency = new Option<int>("--min-frequency") { Description = "Stop when the best pair occurs fewer times than this.", DefaultValueFactory = _ => 2 };
        var train = new Command("train", "Train a byte-level BPE tokenizer (GPT-2 pre-tokenization) on text files.") { input, vocabSize, output, special, minFrequency };
        train.SetSafeAction((parse, stdout) =>
        {
            var specials = parse.GetValue(special) ?? [];
            var options = new BpeTrainerOptions
            {
                VocabSize = parse.GetValue(vocabSize),
                SpecialTokens = specials,
                MinFrequency = parse.GetValue(minFrequency),
                EosToken = specials.FirstOrDefault(),
            };
            options.Validate();
            var watch = Stopwatch.StartNew();
            var result = BpeTrainer.TrainOnFiles(parse.GetValue(input)!, options);
            var seconds = watch.Elapsed.TotalSeconds;
            result.Save(parse.GetValue(output)!);
            stdout.WriteLine($"vocabulary {result.Vocab.Count} tokens ({result.Merges.Count} merges, {result.SpecialTokens.Count} special) trained in {seconds:F1} s; saved to {parse.GetValue(output)}");
            return 0;
        });
        return train;
    }
}
