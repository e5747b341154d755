using System.CommandLine;
using SharpSeek.Data.Chat;
using SharpSeek.Models.Common;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek sft</c>: supervised fine-tuning of a model folder on chat or prompt/completion JSONL, with the loss on the
/// assistant tokens only, packed rows, the chat template's special tokens added when the tokenizer lacks them, and LoRA
/// when the config has a <c>lora</c> section; the one training loop, resumable.
/// </summary>
public static class SftCommand
{
    public static Command Create()
    {
        var verb = new TrainingVerb();
        var data = new Option<string?>("--data") { Description = "JSONL of {\"messages\": [...]} or {\"prompt\", \"completion\"} lines; same as --set sft.data=…" };
        var valData = new Option<string?>("--val-data") { Description = "Held-out JSONL (default: sft.val_fraction of --data); same as --set sft.val_data=…" };
        var template = new Option<string?>("--template") { Description = "Chat template: auto (the model folder's, else chatml), chatml or deepseek; same as --set sft.template=…" };
        var command = verb.CreateCommand("sft",
            "Supervised fine-tuning of a model folder (--init-from) on chat JSONL: loss on assistant tokens only, packed rows, LoRA with --set lora.r=8 --set lora.target_modules=[\"c_attn\"]; Ctrl-C saves a checkpoint, --resume continues.",
            data, valData, template);
        command.SetSafeAction((parse, console) => TrainingVerb.RunRanks(console, rank =>
        {
            var stdout = rank.Out;
            var last = new List<string>();
            if (parse.GetValue(data) is { } d) last.Add($"sft.data={Quoted(d)}");
            if (parse.GetValue(valData) is { } v) last.Add($"sft.val_data={Quoted(v)}");
            if (parse.GetValue(template) is { } t) last.Add($"sft.template={Quoted(t)}");
            var c = verb.LoadConfig(parse, last: last);
            var sft = c.Sft ?? throw new ConfigException("no data: pass --data FILE.jsonl or set sft.data");
            if (c.InitFrom is null) throw new ConfigException("sft fine-tunes a model folder: pass --init-from DIR (a model with its tokenizer)");

            using var chat = ChatTokenizerSetup.For(c.InitFrom, sft.Template);
            var dataset = SftDataset.Load(sft.Data, sft.ValData, sft.ValFraction, sft.SystemPrompt, chat.Template, chat.Tokenizer, c.BlockSize);
            stdout.WriteLine($"chat template {chat.Template.Name}" + (chat.AddedTokenCount > 0
                ? $"; added {chat.AddedTokenCount} special tokens to the tokenizer ({chat.VocabSize:N0} ids), checkpoints carry it"
                : ""));
            stdout.WriteLine(dataset.Describe(c.BlockSize));
            if (c.Lora is not null && chat.AddedTokenCount > 0)
                stdout.WriteLine($"note: with LoRA the {chat.AddedTokenCount} added tokens keep their initial (mean) embedding and head rows; only the adapters train");
            var objective = new SftObjective(dataset, c.BatchSize, c.BlockSize, sft.Packing, chat.PadId) { Shard = rank.Shard };
            stdout.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"rows of {c.BlockSize} tokens ({(sft.Packing ? "packed" : "one padded sample each")}): {objective.TrainRowsPerEpoch:N0} per epoch, {objective.ValRows:N0} held out; an evaluation reads {c.EvalIters * c.BatchSize:N0}"));
            var trainer = new Trainer(c, objective, TrainingModels.For(c, chat.VocabSize, chat.VocabSize, chat.AddedTokenCount))
            {
                RetainFreedMemory = true,                   // a process of its own
                ExtraFiles = chat.Files,                    // checkpoints carry the tokenizer (with added tokens) and chat_template
                Parallel = rank.Parallel,
            };
            int code = verb.Run(parse, trainer, c, stdout);
            if (c.Lora is not null && trainer.Store.Latest() is { } checkpoint)
                stdout.WriteLine($"LoRA adapters: {Path.Combine(checkpoint, LoraAdapters.WeightsFile)} and {LoraAdapters.ConfigFile} (PEFT layout; the base model's files are beside them)");
            return code;
        }));
        return command;
    }

    /// <summary>A --set value that stays a JSON string whatever it looks like (a path "1.jsonl", "true").</summary>
    private static string Quoted(string value) => System.Text.Json.JsonSerializer.Serialize(value);
}
