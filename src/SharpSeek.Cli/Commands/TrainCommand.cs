using System.CommandLine;
using SharpSeek.Tokenization;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;
using SharpSeek.Data;
using SharpSeek.Distributed;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek train</c>: pretrain or fine-tune (<c>--init-from</c>) with the one training loop; resumable.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var verb = new TrainingVerb();
        var arch = new Option<string?>("--arch") { Description = "Model family to train from scratch: gpt2 or deepseek; same as --set arch=…" };
        var data = new Option<string?>("--data") { Description = "Prepared data folder (train.bin, val.bin, meta.json); same as --set data_dir=…" };
        var command = verb.CreateCommand("train", "Train a model (from scratch, or fine-tune with --init-from); Ctrl-C or SIGTERM (timeout, schedulers, containers) finishes the step, saves a checkpoint and exits 0; --resume continues from it.",
            arch, data);
        command.SetSafeAction((parse, stdout) => TrainingVerb.RunRanks(stdout, rank => Train(parse, verb, arch, data, rank)));
        return command;
    }

    private static int Train(ParseResult parse, TrainingVerb verb, Option<string?> arch, Option<string?> data, RankContext rank)
    {
        var parallel = rank.Parallel;
        var first = parse.GetValue(arch) is { } a ? new[] { $"arch={a}" } : [];
        var last = parse.GetValue(data) is { } d ? new[] { $"data_dir={d}" } : [];
        var c = verb.LoadConfig(parse, first, last);
        if (c.DataDir.Length == 0) throw new ConfigException("no data: pass --data DIR (a folder from `sharpseek data prepare`) or set data_dir");
        if (parallel is not null) ShardedBatchSource.CheckDivisible(c.BatchSize, parallel.Size);   // data and config are checked by the trainer

        using var batches = TokenDatasetBatchSource.Open(c.DataDir, (ulong)c.Seed);
        IBatchSource shard = parallel is null ? batches : new ShardedBatchSource(batches, parallel.Rank, parallel.Size);
        var objective = new LanguageModelObjective(shard, c.BatchSize, c.BlockSize);
        var trainer = new Trainer(c, objective, TrainingModels.For(c, batches.VocabSize))
        {
            RetainFreedMemory = true,                                                                                  // a process of its own
            ExtraFiles = TokenizerFiles.Names.Select(n => Path.Combine(c.DataDir, n)).Where(File.Exists).ToList(),   // checkpoints carry the tokenizer
            Parallel = parallel,
        };
        return verb.Run(parse, trainer, c, rank.Out);
    }
}
