using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using SharpSeek.Training;

namespace SharpSeek.Tests.Cli;

/// <summary><c>sharpseek sft</c> end to end on tiny models made with <c>sharpseek init</c>.</summary>
public class SftCliTests
{
    /// <summary>A tiny GPT-2 with the byte tokenizer; vocab_size 257 leaves no room for ChatML's two tokens, so SFT grows it.</summary>
    private static string InitGpt2(TempDir tmp, int vocab = 257)
    {
        var r = CliHarness.Run("init", "--arch", "gpt2", "--preset", "tiny", "--set", $"vocab_size={vocab}", "--set", "n_positions=64",
                               "--tokenizer", "byte", "--out", tmp["gpt2"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return tmp["gpt2"];
    }

    /// <summary>A two-layer DeepSeek (MLA, MoE, MTP) with the byte tokenizer and vocab_size 258 (DeepSeek's four chat tokens need 261).</summary>
    private static string InitDeepSeek(TempDir tmp)
    {
        var r = CliHarness.Run("init", "--arch", "deepseek", "--preset", "tiny", "--set", "vocab_size=258", "--set", "num_hidden_layers=2",
                               "--set", "hidden_size=64", "--set", "intermediate_size=96", "--set", "moe_intermediate_size=32",
                               "--set", "max_position_embeddings=64", "--out", tmp["deepseek"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return tmp["deepseek"];
    }

    /// <summary>Single-digit additions, half as prompt/completion lines and half as conversations.</summary>
    private static string Data(TempDir tmp, int n = 120)
    {
        var rng = new Random(4);
        var lines = Enumerable.Range(0, n).Select(i =>
        {
            int a = rng.Next(10), b = rng.Next(10);
            string q = $"{a}+{b}=", answer = (a + b).ToString(CultureInfo.InvariantCulture);
            return i % 2 == 0
                ? JsonSerializer.Serialize(new { prompt = q, completion = answer })
                : JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = q }, new { role = "assistant", content = answer } } });
        });
        File.WriteAllLines(tmp["d.jsonl"], lines);
        return tmp["d.jsonl"];
    }

    private static string[] Args(string model, string data, string outDir, params string[] more) =>
    [
        "sft", "--init-from", model, "--data", data, "--out", outDir, "--plain",
        "--set", "max_steps=24", "--set", "eval_interval=12", "--set", "eval_iters=2", "--set", "log_interval=1", "--set", "warmup_steps=2",
        "--set", "batch_size=8", "--set", "block_size=64", "--set", "lr=3e-3", "--set", "precision=fp32", "--set", "sft.val_fraction=0.2",
        .. more,
    ];

    private static double ValLoss(string stdout, int step) =>
        double.Parse(Regex.Match(stdout, $@"eval step {step}: val loss (\d+\.\d+)").Groups[1].Value, CultureInfo.InvariantCulture);

    [Fact]
    public void Sft_TinyGpt2_LearnsAndCheckpointCarriesGrownTokenizerThatGenerateLoads()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run(Args(InitGpt2(tmp), Data(tmp), tmp["out"]));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("added 2 special tokens to the tokenizer (259 ids)", r.Stdout);
        Assert.True(ValLoss(r.Stdout, 24) < ValLoss(r.Stdout, 0) - 1, r.Stdout);
        string ckpt = Path.Combine(tmp["out"], CheckpointStore.DirName(24));
        Assert.Equal(259, ModelLoader.Load(ckpt).VocabSize);
        var tok = TokenizerLoader.Load(ckpt);
        Assert.Equal(259, tok.VocabSize);
        Assert.Equal(258, ChatTemplates.ChatMl.EndOfTurnId(tok));
        Assert.Same(ChatTemplates.ChatMl, ChatTemplates.FromFolder(ckpt));                   // chat_template written
        var g = CliHarness.Run("generate", "--model", ckpt, "--prompt", "<|im_start|>user\n2+3=<|im_end|>\n<|im_start|>assistant\n", "--max-new-tokens", "3");
        Assert.True(g.ExitCode == 0, g.Stderr);
    }

    [Fact]
    public void Sft_TinyDeepSeekWithDeepSeekTemplateUnpacked_LearnsAndCheckpointLoads()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run(Args(InitDeepSeek(tmp), Data(tmp), tmp["out"], "--template", "deepseek", "--set", "sft.packing=false", "--set", "block_size=16"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("chat template deepseek; added 4 special tokens", r.Stdout);
        Assert.True(ValLoss(r.Stdout, 24) < ValLoss(r.Stdout, 0) - 1, r.Stdout);
        string ckpt = Path.Combine(tmp["out"], CheckpointStore.DirName(24));
        Assert.Equal(261, ModelLoader.Load(ckpt).VocabSize);
        Assert.Same(ChatTemplates.DeepSeek, ChatTemplates.FromFolder(ckpt));
        var g = CliHarness.Run("generate", "--model", ckpt, "--prompt", "<｜begin▁of▁sentence｜><｜User｜>2+3=<｜Assistant｜>", "--max-new-tokens", "3");
        Assert.True(g.ExitCode == 0, g.Stderr);
    }

    [Fact]
    public void Sft_Lora_TrainsUnderFivePercentLeavesBaseUnchangedAndWritesAdapterFiles()
    {
        using var tmp = new TempDir();
        string model = InitGpt2(tmp, vocab: 320);                                            // room for the chat tokens: no growth
        var r = CliHarness.Run(Args(model, Data(tmp), tmp["out"], "--set", "lora.r=4", "--set", "lora.target_modules=[\"c_attn\"]", "--set", "max_steps=6", "--set", "eval_interval=6"));
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        double percent = double.Parse(Regex.Match(r.Stdout, @"trainable parameters: [\d,]+ of [\d,]+ \((\d+\.\d+)%\)").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.InRange(percent, 0.1, 5);
        string ckpt = Path.Combine(tmp["out"], CheckpointStore.DirName(6));
        Assert.Contains($"LoRA adapters: {Path.Combine(ckpt, LoraAdapters.WeightsFile)}", r.Stdout);
        Assert.True(File.Exists(Path.Combine(ckpt, LoraAdapters.ConfigFile)));
        using var before = ModelLoader.Load(model);
        using var after = ModelLoader.Load(ckpt);
        var original = before.state_dict();
        foreach (var (name, t) in after.state_dict())
        {
            // the byte tokenizer's 257 ids + ChatML's 2 took padding rows 257, 258 of the 320: those rows are drawn afresh
            bool tokenRows = name == "transformer.wte.weight";
            var kept = tokenRows ? t.narrow(0, 0, 257) : t;
            Assert.True(kept.equal(tokenRows ? original[name].narrow(0, 0, 257) : original[name]).all().item<bool>(), $"{name} changed");
            if (tokenRows)
            {
                Assert.False(t.narrow(0, 257, 2).equal(original[name].narrow(0, 257, 2)).all().item<bool>(), "the added tokens' padding rows were not redrawn");
                Assert.True(t.narrow(0, 259, 61).equal(original[name].narrow(0, 259, 61)).all().item<bool>(), "padding rows beyond the added tokens changed");
            }
        }
        using var lora = LoraCausalLM.Load(ModelLoader.Load(ckpt), ckpt);
        Assert.Equal(2, lora.Lora.Adapters.Count);
        Assert.Contains(lora.Lora.Adapters.Values, a => a.B.abs().max().item<float>() > 0);  // B starts at zero: it trained

        var resumed = CliHarness.Run(Args(model, tmp["d.jsonl"], tmp["out"], "--set", "lora.r=4", "--set", "lora.target_modules=[\"c_attn\"]", "--set", "max_steps=7", "--set", "eval_interval=6", "--resume"));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr + resumed.Stdout);
        Assert.Contains("resuming from step 6", resumed.Stdout);
        Assert.Contains($"trainable parameters: {lora.Lora.TrainableParameterCount:N0} of", resumed.Stdout);   // the adapters again, reloaded
    }

    [Fact]
    public void Sft_LoraUnknownTargetModule_Exits2AndCreatesNoOutDir()
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run(Args(InitGpt2(tmp), Data(tmp), tmp["out"], "--set", "lora.target_modules=[\"q_proj\"]"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error: LoRA target module 'q_proj' matches no projection", r.Stderr);
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public void Sft_ResumedHalfway_SameLossesAsUninterrupted()
    {
        using var tmp = new TempDir();
        string model = InitGpt2(tmp), data = Data(tmp);
        string[] shortRun = ["--set", "max_steps=6", "--set", "eval_interval=3", "--set", "lr_decay_steps=6"];
        Assert.Equal(0, CliHarness.Run(Args(model, data, tmp["a"], shortRun)).ExitCode);
        Assert.Equal(0, CliHarness.Run(Args(model, data, tmp["b"], [.. shortRun[..2], "--set", "max_steps=3", .. shortRun[2..]])).ExitCode);
        var resumed = CliHarness.Run(Args(model, data, tmp["b"], [.. shortRun, "--resume"]));
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("resuming from step 3", resumed.Stdout);
        Assert.Equal(Losses(tmp["a"]).Skip(3), Losses(tmp["b"]).Skip(3));
        Assert.Equal(6, Losses(tmp["b"]).Count);
    }

    private static List<double> Losses(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, MetricsLog.FileName))
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("loss", out var v) && v.ValueKind == JsonValueKind.Number)
            .Select(e => e.GetProperty("loss").GetDouble()).ToList();

    [Theory]
    [InlineData("{\"prompt\": \"1+1=\", \"completion\": \"2\"}\n{\"prompt\": \"1+2=\"}\n", 2, "missing field \"completion\"")]
    [InlineData("{\"prompt\": \"1+1=\", \"completion\": \"2\"}\n\n{oops\n", 3, "not valid JSON")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n", 1, "no assistant message")]
    public void Sft_BadJsonl_Exits2NamingLineAndKeepsExistingOutDir(string text, int line, string message)
    {
        using var tmp = new TempDir();
        string model = InitGpt2(tmp);
        File.WriteAllText(tmp["bad.jsonl"], text);
        var fresh = CliHarness.Run(Args(model, tmp["bad.jsonl"], tmp["new"]));
        Assert.Equal(2, fresh.ExitCode);
        Assert.StartsWith($"error: {tmp["bad.jsonl"]}:{line}: ", fresh.Stderr);
        Assert.Contains(message, fresh.Stderr);
        Assert.False(Directory.Exists(tmp["new"]));

        Directory.CreateDirectory(tmp["out"]);
        File.WriteAllText(Path.Combine(tmp["out"], "keep.txt"), "saved");
        var again = CliHarness.Run(Args(model, tmp["bad.jsonl"], tmp["out"], "--resume"));
        Assert.Equal(2, again.ExitCode);
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(tmp["out"]).Select(Path.GetFileName));
    }

    [Fact]
    public void Sft_NoInitFromOrNoData_Exits2()
    {
        using var tmp = new TempDir();
        string data = Data(tmp);
        var noModel = CliHarness.Run("sft", "--data", data, "--out", tmp["o"]);
        Assert.Equal(2, noModel.ExitCode);
        Assert.Contains("--init-from", noModel.Stderr);
        var noData = CliHarness.Run("sft", "--init-from", InitGpt2(tmp), "--out", tmp["o"]);
        Assert.Equal(2, noData.ExitCode);
        Assert.Contains("--data", noData.Stderr);
        Assert.False(Directory.Exists(tmp["o"]));
    }

    [Fact]
    public void SftExampleConfig_LoadsWithSftSectionAndTheVerbRunsItOnAnotherModelAndData()
    {
        string dir = AppContext.BaseDirectory;
        while (!Directory.Exists(Path.Combine(dir, "configs"))) dir = Path.GetDirectoryName(dir)!;
        string path = Path.Combine(dir, "configs", "sft-example.json");
        var c = TrainConfig.Load(path);
        c.Validate();
        Assert.Equal(("auto", true, 0.05), (c.Sft!.Template, c.Sft.Packing, c.Sft.ValFraction));
        using var tmp = new TempDir();
        var r = CliHarness.Run(["sft", "--config", path, "--init-from", InitGpt2(tmp), "--data", Data(tmp, 40), "--out", tmp["out"], "--plain",
                                "--set", "max_steps=2", "--set", "eval_iters=1", "--set", "block_size=64", "--set", "sft.val_fraction=0.3"]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("finished at step 2", r.Stdout);
    }
}
