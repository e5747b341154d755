using System.CommandLine;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek dpo</c>: Direct Preference Optimization of a policy (--init-from, e.g. an SFT model) on preference pairs against a
/// frozen reference (--reference, default the init_from model); β by --set preference.beta=…; LoRA with --set lora.….
/// </summary>
public static class DpoCommand
{
    public static Command Create()
    {
        var pv = new PreferenceVerb();
        var reference = new Option<string?>("--reference") { Description = "Frozen reference model folder (default: the --init-from model); same as --set preference.reference=…" };
        var command = pv.Verb.CreateCommand("dpo",
            "Direct Preference Optimization on (prompt, chosen, rejected) JSONL pairs against a frozen reference; checkpoints are model folders.",
            pv.Data, pv.ValData, reference);
        command.SetSafeAction((parse, stdout) => TrainingVerb.RunRanks(stdout, rank =>
        {
            var extra = parse.GetValue(reference) is { } r ? new[] { $"preference.reference={System.Text.Json.JsonSerializer.Serialize(r)}" } : [];
            var c = pv.LoadConfig(parse, extra);
            var pairs = PreferenceVerb.ReadPairs(c);
            string referenceDir = c.Preference!.Reference ?? c.InitFrom!;
            if (!Directory.Exists(referenceDir)) throw new ConfigException($"preference.reference {referenceDir}: model folder not found");
            var objective = new DpoObjective(pairs, c.BatchSize, TrainingModels.LoadMerged(referenceDir), c.Preference.Beta) { Shard = rank.Shard };
            var trainer = new Trainer(c, objective, TrainingModels.For(c, 0))
            {
                RetainFreedMemory = true,
                ExtraFiles = PreferenceVerb.TokenizerFilesOf(c),
                Parallel = rank.Parallel,
            };
            return pv.Verb.Run(parse, trainer, c, rank.Out);
        }));
        return command;
    }
}
