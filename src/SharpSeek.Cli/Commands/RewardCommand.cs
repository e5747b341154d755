using System.CommandLine;
using System.Globalization;
using SharpSeek.Models;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek reward</c>: train a reward model (a scalar head on an SFT model) on preference pairs with the Bradley–Terry
/// loss; checkpoints are reward-model folders (Hugging Face sequence-classification layout); prints the held-out pair accuracy.
/// </summary>
public static class RewardCommand
{
    public static Command Create()
    {
        var pv = new PreferenceVerb();
        var command = pv.Verb.CreateCommand("reward",
            "Train a reward model on (prompt, chosen, rejected) JSONL pairs (--init-from an SFT model); --set lora.r=8 --set lora.target_modules=c_attn trains adapters and the head only.",
            pv.Data, pv.ValData);
        command.SetSafeAction((parse, console) => TrainingVerb.RunRanks(console, rank =>
        {
            var stdout = rank.Out;
            var c = pv.LoadConfig(parse);
            var objective = new RewardModelObjective(PreferenceVerb.ReadPairs(c), c.BatchSize) { Shard = rank.Shard };
            RewardModel? model = null;
            var trainer = new Trainer(c, objective, dir => model = dir is null
                ? RewardModel.FromCausalLM(TrainingModels.For(c, 0)(null))
                : RewardModel.Load(dir))
            {
                RetainFreedMemory = true,
                ExtraFiles = PreferenceVerb.TokenizerFilesOf(c),
                Parallel = rank.Parallel,
            };
            int code = pv.Verb.Run(parse, trainer, c, stdout);
            if (model is not null && rank.IsRoot)
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"held-out pair accuracy {objective.HeldOutAccuracy(model):P1} ({objective.HeldOutCount} pairs)"));
            return code;
        }));
        return command;
    }
}
