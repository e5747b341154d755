using System.CommandLine;
using SharpSeek.Data.Prompts;
using SharpSeek.Data.Tasks;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek grpo</c>: GRPO (<see cref="GrpoObjective"/>; DeepSeekMath, DeepSeek-R1) from a model folder on prompt JSONL,
/// rewarded by weighted rules (accuracy, format, correctness), optionally through a curriculum of prompt files (grpo.stages),
/// on the one training loop (resumable; LoRA with lora.*). The frozen reference is a copy of the init model (none when
/// grpo.beta is 0). Writes checkpoints, metrics.jsonl, loss.png and grpo.png.
/// </summary>
public static class GrpoCommand
{
    public static Command Create()
    {
        var verb = new TrainingVerb();
        var prompts = new Option<string?>("--prompts") { Description = "Prompt JSONL: {\"prompt\": \"…\", \"answer\": \"…\", \"task\": \"countdown\"} per line (answer, task optional); same as --set grpo.prompts=…" };
        var evalPrompts = new Option<string?>("--eval-prompts") { Description = "Held-out prompt JSONL for evaluation (default: the (first stage's) training prompts); same as --set grpo.eval_prompts=…" };
        var command = verb.CreateCommand("grpo", "GRPO from a model (--init-from): G sampled completions per prompt, group-relative advantages, rule rewards, clipped ratio + β·KL (k3) to a frozen reference, optional curriculum; Ctrl-C saves a checkpoint, --resume continues.",
            prompts, evalPrompts);
        command.SetSafeAction((parse, console) => TrainingVerb.RunRanks(console, rank =>
        {
            var stdout = rank.Out;
            var last = new List<string>();
            if (parse.GetValue(prompts) is { } p) last.Add($"grpo.prompts={p}");
            if (parse.GetValue(evalPrompts) is { } e) last.Add($"grpo.eval_prompts={e}");
            var c = verb.LoadConfig(parse, last: last);
            if (c.InitFrom is null) throw new ConfigException("GRPO starts from a model: pass --init-from DIR (a model folder with its tokenizer)");
            var grpo = c.Grpo ?? throw new ConfigException("no prompts: pass --prompts FILE (JSONL), or set grpo.prompts or grpo.stages");

            var stages = ReadStages(grpo);
            var eval = grpo.EvalPrompts is { } ep ? PromptFile.Read(ep) : null;
            CheckRewardsCanScore(grpo, stages.Select(s => ((IReadOnlyList<PromptExample>?)s.Prompts, (string?)s.Path)).Append((eval, grpo.EvalPrompts)));
            var tokenizer = TokenizerLoader.Load(c.InitFrom);
            var template = ChatTemplates.FromFolder(c.InitFrom);
            if (grpo.PromptFormat == "chat")
            {
                try { template.EnsureExpressible(tokenizer); }
                catch (ConfigException x) { throw new ConfigException($"{c.InitFrom}: {x.Message} (grpo.prompt_format chat needs a chat model; sharpseek sft adds them, or use plain)"); }
            }

            var reward = WeightedRewards.FromConfig(grpo.Rewards);
            var reference = grpo.Beta > 0 ? TrainingModels.LoadMerged(c.InitFrom) : null;
            var objective = new GrpoObjective(grpo, stages.Select(s => s.Stage).ToList(), eval, reference, reward, tokenizer, template, c.GradAccum) { Shard = rank.Shard };
            var trainer = new Trainer(c, objective, TrainingModels.For(c, tokenizer.VocabSize))
            {
                RetainFreedMemory = true,                                                                                  // a process of its own
                ExtraFiles = TokenizerFiles.Names.Select(n => Path.Combine(c.InitFrom, n)).Where(File.Exists).ToList(),   // checkpoints carry the tokenizer
                OnEval = (_, _) => SavePlot(c),
                Parallel = rank.Parallel,
            };
            string data = stages.Count == 1
                ? $"{stages[0].Prompts.Count:N0} prompts"
                : "curriculum " + string.Join(", ", stages.Select(s => $"{s.Stage.Name} ({s.Prompts.Count:N0} prompts, {(s.Stage.Steps == int.MaxValue ? "rest" : s.Stage.Steps.ToString("N0"))} steps)"));
            stdout.WriteLine($"grpo: {data}, {(eval is null ? "evaluation on the training prompts" : $"{eval.Count:N0} held-out prompts")}, " +
                             $"{objective.Format.ToString().ToLowerInvariant()} prompts, reward {reward.Name}, β {grpo.Beta}; each rollout batch of " +
                             $"{grpo.PromptsPerStep} prompts × {grpo.GroupSize} completions lasts {grpo.MiniBatchesPerRollout} micro-batches (μ {grpo.Mu}, grad_accum {c.GradAccum})");
            int code = verb.Run(parse, trainer, c, stdout);
            if (!rank.IsRoot) return code;                                                         // rank 0 alone writes
            SavePlot(c);
            stdout.WriteLine($"grpo plot {Path.Combine(c.OutDir, GrpoPlot.FileName)}");
            return code;
        }));
        return command;
    }

    private sealed record StageFile(GrpoPromptStage Stage, IReadOnlyList<PromptExample> Prompts, string Path);

    /// <summary>The prompt stages of <paramref name="grpo"/>: its stages, or one stage of grpo.prompts lasting the whole run.</summary>
    private static IReadOnlyList<StageFile> ReadStages(GrpoConfig grpo)
    {
        if (grpo.Stages is not { } stages)
        {
            var all = PromptFile.Read(grpo.Prompts!);
            return [new StageFile(new GrpoPromptStage("train", all, int.MaxValue), all, grpo.Prompts!)];
        }
        return stages.Select((s, i) =>
        {
            var set = PromptFile.Read(s.Prompts);
            return new StageFile(new GrpoPromptStage(s.Name ?? $"stage {i}", set, s.Steps), set, s.Prompts);
        }).ToList();
    }

    /// <summary>
    /// Every prompt can be scored by the rewards asked for: accuracy needs an answer or a known task, correctness an answer;
    /// throws <see cref="DataException"/> naming file:line otherwise.
    /// </summary>
    private static void CheckRewardsCanScore(GrpoConfig grpo, IEnumerable<(IReadOnlyList<PromptExample>? Set, string? Path)> files)
    {
        bool accuracy = grpo.Rewards.ContainsKey("accuracy"), correctness = grpo.Rewards.ContainsKey("correctness");
        foreach (var (set, path) in files)
        {
            foreach (var x in set ?? [])
            {
                if (x.Task is { } task)
                {
                    try { TaskGenerators.ByName(task); }
                    catch (ConfigException e) { throw new DataException($"{path}:{x.Line}: {e.Message}"); }
                }
                if (accuracy && x.Answer is null && x.Task is null)
                    throw new DataException($"{path}:{x.Line}: the accuracy reward needs an \"answer\" (or a \"task\") for every prompt");
                if (correctness && x.Answer is null)
                    throw new DataException($"{path}:{x.Line}: the correctness reward needs an \"answer\" for every prompt");
            }
        }
    }

    private static void SavePlot(TrainConfig c)
    {
        var records = PpoPlot.ReadMetrics(Path.Combine(c.OutDir, MetricsLog.FileName));
        if (records.Count > 0) GrpoPlot.Save(records, Path.Combine(c.OutDir, GrpoPlot.FileName), $"GRPO {Path.GetFileName(Path.GetFullPath(c.OutDir))}");
    }
}
