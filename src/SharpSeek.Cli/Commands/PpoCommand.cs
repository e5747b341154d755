using System.CommandLine;
using SharpSeek.Data.Prompts;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek ppo</c>: RLHF with PPO (<see cref="PpoObjective"/>) from an SFT model folder on a prompt JSONL, rewarded by a
/// learned reward model or by rule (correctness against each prompt's answer), on the one training loop (resumable; LoRA
/// with lora.*). Writes checkpoints (model folder + value_head.safetensors), metrics.jsonl, loss.png and ppo.png.
/// </summary>
public static class PpoCommand
{
    public static Command Create()
    {
        var verb = new TrainingVerb();
        var prompts = new Option<string?>("--prompts") { Description = "Prompt JSONL: {\"prompt\": \"<user message>\", \"answer\": \"<optional expected answer>\"} per line; same as --set ppo.prompts=…" };
        var evalPrompts = new Option<string?>("--eval-prompts") { Description = "Held-out prompt JSONL for evaluation (default: the training prompts); same as --set ppo.eval_prompts=…" };
        var reward = new Option<string?>("--reward") { Description = "Rule-based reward: correctness (the response's final answer equals the prompt's answer); same as --set ppo.reward=…" };
        var rewardModel = new Option<string?>("--reward-model") { Description = "Reward-model folder (sequence classification with score.weight); same as --set ppo.reward=model --set ppo.reward_model=…" };
        var command = verb.CreateCommand("ppo", "RLHF with PPO from an SFT model (--init-from): rollouts, a frozen reference, a value head, β·KL penalty, GAE, clipped losses; Ctrl-C saves a checkpoint, --resume continues.",
            prompts, evalPrompts, reward, rewardModel);
        command.SetSafeAction((parse, console) => TrainingVerb.RunRanks(console, rank =>
        {
            var stdout = rank.Out;
            var last = new List<string>();
            if (parse.GetValue(prompts) is { } p) last.Add($"ppo.prompts={p}");
            if (parse.GetValue(evalPrompts) is { } e) last.Add($"ppo.eval_prompts={e}");
            if (parse.GetValue(reward) is not null && parse.GetValue(rewardModel) is not null)
                throw new ConfigException("pass either --reward or --reward-model, not both");
            if (parse.GetValue(reward) is { } rule) last.Add($"ppo.reward={rule}");
            if (parse.GetValue(rewardModel) is { } rm) { last.Add("ppo.reward=model"); last.Add($"ppo.reward_model={rm}"); }
            var c = verb.LoadConfig(parse, last: last);
            if (c.InitFrom is null) throw new ConfigException("PPO starts from a model: pass --init-from DIR (an SFT model folder with its tokenizer)");
            var ppo = c.Ppo ?? throw new ConfigException("no prompts: pass --prompts FILE (JSONL) or set ppo.prompts");

            var train = PromptFile.Read(ppo.Prompts);
            var eval = ppo.EvalPrompts is { } ep ? PromptFile.Read(ep) : null;
            if (ppo.Reward == "correctness")
                foreach (var (set, path) in new[] { (train, ppo.Prompts), (eval, ppo.EvalPrompts) })
                    if (set?.FirstOrDefault(x => x.Answer is null) is { } missing)
                        throw new DataException($"{path}:{missing.Line}: the correctness reward needs an \"answer\" for every prompt");
            var tokenizer = TokenizerLoader.Load(c.InitFrom);
            var template = ChatTemplates.FromFolder(c.InitFrom);
            try { template.EnsureExpressible(tokenizer); }
            catch (ConfigException x) { throw new ConfigException($"{c.InitFrom}: {x.Message} (sharpseek sft adds them; PPO starts from an SFT model)"); }
            if (ppo.RewardModel is { } rmDir && ppo.Reward == "model" && !Directory.Exists(rmDir))
                throw new ConfigException($"ppo.reward_model {rmDir}: folder not found");

            var rewardFunction = CreateReward(ppo);
            var reference = ModelLoader.Load(c.InitFrom);
            var objective = new PpoObjective(ppo, train, eval, reference, rewardFunction, tokenizer, template) { Shard = rank.Shard };
            var trainer = new Trainer(c, objective, Builder(c, tokenizer.VocabSize))
            {
                RetainFreedMemory = true,                                                                                  // a process of its own
                ExtraFiles = TokenizerFiles.Names.Select(n => Path.Combine(c.InitFrom, n)).Where(File.Exists).ToList(),   // checkpoints carry the tokenizer
                OnEval = (_, _) => SavePlot(c),
                Parallel = rank.Parallel,
            };
            stdout.WriteLine($"ppo: {train.Count:N0} prompts, {(eval is null ? "evaluation on the training prompts" : $"{eval.Count:N0} held-out prompts")}, " +
                             $"reward {rewardFunction.Name}; each rollout batch of {ppo.RolloutBatchSize} lasts {ppo.StepsPerRollout(c.GradAccum)} optimizer steps " +
                             $"({ppo.PpoEpochs} epochs × {ppo.MiniBatchesPerEpoch} minibatches / grad_accum {c.GradAccum})");
            int code = verb.Run(parse, trainer, c, stdout);
            if (!rank.IsRoot) return code;                                                         // rank 0 alone writes
            SavePlot(c);
            stdout.WriteLine($"ppo plot {Path.Combine(c.OutDir, PpoPlot.FileName)}");
            return code;
        }));
        return command;
    }

    /// <summary>The reward of <paramref name="ppo"/>: rule-based correctness, or the learned reward model.</summary>
    public static IRewardFunction CreateReward(PpoConfig ppo) => ppo.Reward switch
    {
        "correctness" => new CorrectnessReward(),
        "model" => RewardModelScorer.Load(ppo.RewardModel!),
        _ => throw new ConfigException($"ppo.reward {ppo.Reward}: give correctness or model"),
    };

    /// <summary>
    /// The policy: init_from (or a checkpoint), with LoRA adapters when lora is set, under a value head (fresh, or the
    /// checkpoint's value_head.safetensors on resume).
    /// </summary>
    public static ModelBuilder Builder(TrainConfig c, int tokenizerVocabSize) => dir =>
    {
        var model = TrainingModels.For(c, tokenizerVocabSize)(dir);                                 // LoRA-wrapped when c.Lora is set
        bool detach = c.Ppo?.DetachValueHead ?? false;
        return dir is null ? new ValueHeadModel(model, detach) : ValueHeadModel.Load(model, dir, detach);
    };

    private static void SavePlot(TrainConfig c)
    {
        var records = PpoPlot.ReadMetrics(Path.Combine(c.OutDir, MetricsLog.FileName));
        if (records.Count > 0) PpoPlot.Save(records, Path.Combine(c.OutDir, PpoPlot.FileName), $"PPO {Path.GetFileName(Path.GetFullPath(c.OutDir))}");
    }
}
