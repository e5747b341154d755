using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Tests.Cli;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tests.Training.Objectives;
using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Distributed;

/// <summary>
/// <c>mpirun -np 2</c> for every training verb besides <c>train</c> (docs/distributed.md): sft, reward, dpo and distill
/// against one process on the same global batch; grpo and ppo run, finish and rank 0 writes; a batch that does not split exits 2.
/// </summary>
public class DataParallelObjectiveTests
{
    /// <summary>Losses and parameters of the two runs after 3 AdamW steps: only the fp32 summation order differs.</summary>
    private const double Tolerance = 1e-5;

    /// <summary>Global batch 4, 3 steps, fp32, one thread, evaluation at the end only (rank 0 alone evaluates).</summary>
    private static readonly string[] Small =
    [
        "--plain", "--set", "threads=1", "--set", "precision=fp32", "--set", "batch_size=4", "--set", "max_steps=3", "--set", "eval_interval=3",
        "--set", "eval_iters=1", "--set", "log_interval=1", "--set", "warmup_steps=1", "--set", "lr=3e-3",
    ];

    private static CliHarness.Result RunOne(string[] args) => CliProcess.Run(args, new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1" });

    private static Dictionary<int, double> Losses(string outDir) =>
        File.ReadLines(Path.Combine(outDir, MetricsLog.FileName)).Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(o => o.ContainsKey("loss")).ToDictionary(o => (int)o["step"]!, o => (double)o["loss"]!);

    /// <summary>
    /// Runs <paramref name="args"/> (without --out) on one process and on 2 ranks and asserts equal losses at steps 1–3 and equal
    /// weights of every safetensors file of the step-3 checkpoint, that rank 1 printed nothing and that rank 0 alone wrote.
    /// <paramref name="zeroGradient"/>: tensors whose gradient is exactly 0 in exact arithmetic, so AdamW turns the fp32
    /// rounding noise of their gradient into steps of up to lr in both runs; they are not compared.
    /// </summary>
    private static void AssertTwoRanksMatchOneProcess(TempDir tmp, string[] args, params string[] zeroGradient)
    {
        var one = RunOne([.. args, "--out", tmp["one"]]);
        Assert.True(one.ExitCode == 0, one.Stderr + one.Stdout);
        var two = MpiRun.Run(2, [.. args, "--out", tmp["two"]]);
        Assert.True(two.ExitCode == 0, two.Stderr + two.Stdout);
        Assert.Contains("data parallel: rank 0 of 2", two.Stdout);
        Assert.DoesNotContain("rank 1 of 2", two.Stdout);                                 // rank 1 prints nothing

        var expected = Losses(tmp["one"]);
        var actual = Losses(tmp["two"]);
        Assert.Equal([1, 2, 3], actual.Keys.Order());
        foreach (var (step, loss) in expected) Assert.True(Math.Abs(actual[step] - loss) <= Tolerance, $"step {step}: {actual[step]} vs {loss}");
        Assert.True(expected.Values.Distinct().Count() == 3, "the loss changes from step to step");   // else equality would prove little

        string ckpt = CheckpointStore.DirName(3);
        var files = Directory.GetFiles(Path.Combine(tmp["one"], ckpt), "*.safetensors").Select(Path.GetFileName).Where(f => f != CheckpointStore.RngFile).ToList();
        Assert.NotEmpty(files);
        var differing = new List<string>();
        foreach (var file in files)
        {
            using var a = SafeTensorsFile.Open(Path.Combine(tmp["one"], ckpt, file!));
            using var b = SafeTensorsFile.Open(Path.Combine(tmp["two"], ckpt, file!));
            Assert.Equal(a.Tensors.Keys.Order(), b.Tensors.Keys.Order());
            foreach (var name in a.Tensors.Keys.Except(zeroGradient))
            {
                using var x = a.Load(name);
                using var y = b.Load(name);
                double diff = (x - y).abs().max().item<float>();
                if (!(diff <= Tolerance)) differing.Add($"{file} {name}: max |Δ| {diff}");
            }
        }
        Assert.True(differing.Count == 0, string.Join("; ", differing));
        Assert.Single(Directory.GetDirectories(tmp["two"], "ckpt-*"));                    // rank 0 alone wrote it
    }

    /// <summary>
    /// Chat rows whose assistant answers differ in length (1–12 characters), so the two ranks' halves of a batch hold
    /// different numbers of supervised tokens and only the token-weighted mean gives the 1-process gradient.
    /// </summary>
    private static string SftData(TempDir tmp)
    {
        var rng = new Random(11);
        var lines = Enumerable.Range(0, 40).Select(i =>
        {
            int a = rng.Next(10), b = rng.Next(10);
            string answer = string.Concat(Enumerable.Repeat((a + b).ToString(CultureInfo.InvariantCulture), 1 + rng.Next(6)));
            return JsonSerializer.Serialize(new { prompt = $"{a}+{b}=", completion = answer });
        });
        File.WriteAllLines(tmp["sft.jsonl"], lines);
        return tmp["sft.jsonl"];
    }

    [MpiFact]
    public void Sft_TwoRanksHalfBatch_MatchesOneProcess()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        AssertTwoRanksMatchOneProcess(tmp, ["sft", "--init-from", model, "--data", SftData(tmp), "--set", "block_size=32", "--set", "sft.packing=false",
                                           "--set", "sft.val_fraction=0.2", .. Small]);
    }

    [MpiFact]
    public void SftZero1_TwoRanksHalfBatch_MatchesOneProcess()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        AssertTwoRanksMatchOneProcess(tmp, ["sft", "--init-from", model, "--data", SftData(tmp), "--set", "block_size=32", "--set", "sft.packing=false",
                                           "--set", "sft.val_fraction=0.2", "--set", "zero_stage=1", .. Small]);   // 1 process: zero_stage 1 is plain AdamW
    }

    [MpiFact]
    public void DpoLoraZero1_TwoRanksHalfBatch_MatchesOneProcess()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(32));
        AssertTwoRanksMatchOneProcess(tmp, ["dpo", "--init-from", model, "--data", data, "--set", "lora.r=4", "--set", "lora.target_modules=[\"c_attn\"]", "--set", "zero_stage=1", .. Small]);
    }

    [MpiFact]
    public void Dpo_TwoRanksHalfBatch_MatchesOneProcess()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(32));
        AssertTwoRanksMatchOneProcess(tmp, ["dpo", "--init-from", model, "--data", data, .. Small]);
    }

    [MpiFact]
    public void Reward_TwoRanksHalfBatch_MatchesOneProcess()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        string data = PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(32));
        // r_c − r_r does not depend on the final layer norm's bias (it shifts both hidden states alike and the score head
        // is linear without bias), so the Bradley–Terry loss gives it a gradient of exactly 0
        AssertTwoRanksMatchOneProcess(tmp, ["reward", "--init-from", model, "--data", data, .. Small], "transformer.ln_f.bias");
    }

    [MpiFact]
    public void DistillSftRows_TwoRanksHalfBatch_MatchesOneProcess()
    {
        using var tmp = new TempDir();
        string student = PreferenceTestData.ModelFolder(tmp["student"], "gpt2", seed: 1);
        string teacher = PreferenceTestData.ModelFolder(tmp["teacher"], "gpt2", seed: 2);
        AssertTwoRanksMatchOneProcess(tmp, ["distill", "--init-from", student, "--teacher", teacher, "--set", "distill.data=sft", "--set", "distill.alpha=0.5",
                                           "--set", $"sft.data={JsonSerializer.Serialize(SftData(tmp))}", "--set", "sft.packing=false",
                                           "--set", "sft.val_fraction=0.2", "--set", "block_size=32", .. Small]);
    }

    [MpiFact]
    public void DistillTextWithCache_TwoRanks_RankZeroBuildsTheCacheAndMatchesOneProcess()
    {
        using var tmp = new TempDir();
        string teacher = PreferenceTestData.ModelFolder(tmp["teacher"], "gpt2", chatTokens: false);
        string data = TokenData(tmp);
        string cache = tmp["cache"];
        string[] args = ["distill", "--data", data, "--teacher", teacher, "--set", $"distill.cache={{\"dir\": \"{cache}\", \"top_k\": 4}}",
                         "--set", "arch=gpt2", "--set", "n_layer=1", "--set", "n_head=2", "--set", "n_embd=16", "--set", "block_size=16",
                         "--set", "vocab_size=272", "--set", "dropout=0", .. Small];
        var two = MpiRun.Run(2, [.. args, "--out", tmp["two"]]);                               // 2 ranks first: rank 0 builds the cache
        Assert.True(two.ExitCode == 0, two.Stderr + two.Stdout);
        Assert.Contains("computing top-4 targets", two.Stdout);
        var one = RunOne([.. args, "--out", tmp["one"]]);
        Assert.True(one.ExitCode == 0, one.Stderr + one.Stdout);
        Assert.Contains("identity matches", one.Stdout);                                      // the cache 2 ranks built is whole
        var expected = Losses(tmp["one"]);
        var actual = Losses(tmp["two"]);
        Assert.Equal([1, 2, 3], actual.Keys.Order());
        foreach (var (step, loss) in expected) Assert.True(Math.Abs(actual[step] - loss) <= Tolerance, $"step {step}: {actual[step]} vs {loss}");
    }

    /// <summary>A prepared data folder of the byte tokenizer: 600 train and 120 val tokens.</summary>
    private static string TokenData(TempDir tmp)
    {
        string dir = tmp["data"];
        Directory.CreateDirectory(dir);
        static byte[] Bin(int n) => Enumerable.Range(0, n).SelectMany(i => BitConverter.GetBytes((ushort)(40 + i * 7 % 20 + i / 13 % 3))).ToArray();
        File.WriteAllBytes(Path.Combine(dir, "train.bin"), Bin(600));
        File.WriteAllBytes(Path.Combine(dir, "val.bin"), Bin(120));
        File.WriteAllText(Path.Combine(dir, "meta.json"), new SharpSeek.Data.TokenDataMeta { VocabSize = 257, TrainTokens = 600, ValTokens = 120 }.ToJson());
        SharpSeek.Tokenization.ByteTokenizerFiles.Write(dir);                               // the teacher's tokenizer: the student's must match
        return dir;
    }

    private static string Prompts(TempDir tmp, params string[] lines)
    {
        File.WriteAllLines(tmp["prompts.jsonl"], lines);
        return tmp["prompts.jsonl"];
    }

    private static readonly string[] FourPrompts =
    [
        """{"prompt": "What is 2 + 3?", "answer": "5"}""", """{"prompt": "What is 4 + 4?", "answer": "8"}""",
        """{"prompt": "What is 1 + 6?", "answer": "7"}""", """{"prompt": "What is 3 + 3?", "answer": "6"}""",
    ];

    /// <summary>Asserts a 2-rank RL run finished with finite losses at steps 1–3 and rank 0 alone wrote the step-3 checkpoint.</summary>
    private static Dictionary<int, double> AssertRanFinite(CliHarness.Result r, string outDir)
    {
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("data parallel: rank 0 of 2", r.Stdout);
        var losses = Losses(outDir);
        Assert.Equal([1, 2, 3], losses.Keys.Order());
        Assert.All(losses.Values, l => Assert.True(double.IsFinite(l), $"loss {l}"));
        Assert.True(File.Exists(Path.Combine(outDir, CheckpointStore.DirName(3), "model.safetensors")));
        Assert.Single(Directory.GetDirectories(outDir, "ckpt-*"));
        return losses;
    }

    [MpiFact]
    public void Grpo_TwoRanks_EachSamplesItsPromptsAndRankZeroWrites()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2", chatTokens: false);
        string[] args = ["grpo", "--init-from", model, "--prompts", Prompts(tmp, FourPrompts), "--out", tmp["out"], .. Small,
                         "--set", "grpo.prompts_per_step=4", "--set", "grpo.group_size=2", "--set", "grpo.max_new_tokens=4", "--set", "grpo.eval_batch_size=2",
                         "--set", "grpo.temperature=1.5", "--set", "grpo.loss_normalisation=token"];
        AssertRanFinite(MpiRun.Run(2, args), tmp["out"]);
        Assert.True(File.Exists(Path.Combine(tmp["out"], GrpoPlot.FileName)));
    }

    [MpiFact]
    public void Grpo_OneProcessCheckpointMidBuffer_ResumesOnTwoRanksWithAFreshBatch()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2", chatTokens: false);
        string[] Args(int maxSteps) => ["grpo", "--init-from", model, "--prompts", Prompts(tmp, FourPrompts), "--out", tmp["out"], .. Small,
                                        "--set", $"max_steps={maxSteps}", "--set", "grpo.prompts_per_step=4", "--set", "grpo.group_size=2",
                                        "--set", "grpo.max_new_tokens=4", "--set", "grpo.eval_batch_size=2", "--set", "grpo.mu=2"];
        var one = RunOne(Args(1));                                                           // μ 2: the step-1 checkpoint holds a half-used buffer
        Assert.True(one.ExitCode == 0, one.Stderr + one.Stdout);
        var (saved, _) = CheckpointStore.ReadState(Path.Combine(tmp["out"], CheckpointStore.DirName(1)));
        Assert.NotNull(JsonNode.Parse(saved.DataState)!["Buffer"]);
        var two = MpiRun.Run(2, [.. Args(3), "--resume"]);
        Assert.True(two.ExitCode == 0, two.Stderr + two.Stdout);
        var losses = Losses(tmp["out"]);
        Assert.All(new[] { 2, 3 }, step => Assert.True(double.IsFinite(losses[step]), $"step {step}"));
        var (state, _) = CheckpointStore.ReadState(Path.Combine(tmp["out"], CheckpointStore.DirName(3)));
        Assert.Null(JsonNode.Parse(state.DataState)!["Buffer"]);                            // rank 0 holds only its share: not saved
    }

    [MpiFact]
    public void Ppo_TwoRanks_EachSamplesItsPromptsAndRankZeroWrites()
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2");
        string[] args = ["ppo", "--init-from", model, "--prompts", Prompts(tmp, FourPrompts), "--reward", "correctness", "--out", tmp["out"], .. Small,
                         "--set", "ppo.rollout_batch_size=4", "--set", "ppo.mini_batch_size=2", "--set", "ppo.ppo_epochs=1", "--set", "ppo.max_new_tokens=4",
                         "--set", "ppo.eval_batch_size=2", "--set", "ppo.missing_eot_penalty=1", "--set", "ppo.target_kl=0.1", "--set", "ppo.max_approx_kl=10"];
        AssertRanFinite(MpiRun.Run(2, args), tmp["out"]);
        Assert.True(File.Exists(Path.Combine(tmp["out"], CheckpointStore.DirName(3), "value_head.safetensors")));
    }

    [MpiTheory]
    [InlineData("sft", "batch_size 3 does not split evenly over 2 ranks")]
    [InlineData("dpo", "batch_size 3 does not split evenly over 2 ranks")]
    [InlineData("grpo", "grpo.prompts_per_step 3 does not split evenly over 2 ranks")]
    [InlineData("ppo", "ppo.rollout_batch_size 3 does not split evenly over 2 ranks")]
    public void Verb_BatchNotSplittingOverTheRanks_Exits2NamingIt(string verb, string message)
    {
        using var tmp = new TempDir();
        string model = PreferenceTestData.ModelFolder(tmp["m"], "gpt2", chatTokens: verb != "grpo");
        string[] args = verb switch
        {
            "sft" => ["sft", "--init-from", model, "--data", SftData(tmp), "--set", "block_size=32", .. Small, "--set", "batch_size=3"],
            "dpo" => ["dpo", "--init-from", model, "--data", PreferenceTestData.WriteJsonl(tmp["pairs.jsonl"], PreferenceTestData.ToyLines(16)), .. Small, "--set", "batch_size=3"],
            "grpo" => ["grpo", "--init-from", model, "--prompts", Prompts(tmp, FourPrompts), .. Small, "--set", "grpo.prompts_per_step=3"],
            _ => ["ppo", "--init-from", model, "--prompts", Prompts(tmp, FourPrompts), "--reward", "correctness", .. Small,
                  "--set", "ppo.rollout_batch_size=3", "--set", "ppo.mini_batch_size=1"],
        };
        var r = MpiRun.Run(2, [.. args, "--out", tmp["out"]]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr + r.Stdout);
        Assert.False(Directory.Exists(Path.Combine(tmp["out"], CheckpointStore.DirName(1))));
    }
}
