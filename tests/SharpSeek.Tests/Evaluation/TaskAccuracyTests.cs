using System.Text.Json;
using SharpSeek.Data.Tasks;
using SharpSeek.Evaluation;
using SharpSeek.Generation;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Tests.Evaluation;

public class TaskAccuracyTests
{
    private static readonly TaskExample[] Examples =
    [
        new("What is 47 + 38?", "85", ""),
        new("What is 10 - 20?", "-10", ""),
        new("What is 5 + 5?", "10", ""),
        new("What is 99 + 1?", "100", ""),
    ];

    /// <summary>A tiny random GPT-2 folder with the byte tokenizer (257 ids).</summary>
    internal static string ByteModel(TempDir tmp, string name = "model")
    {
        string json = """{"model_type": "gpt2", "vocab_size": 257, "n_positions": 64, "n_embd": 16, "n_layer": 1, "n_head": 2}""";
        (ModelFactory.CreateAndSave(json, tmp[name]) as IDisposable)?.Dispose();
        ByteTokenizerFiles.Write(tmp[name]);
        return tmp[name];
    }

    [Fact]
    public void Score_KnownCompletions_ExactCounts()
    {
        string[] completions = ["7 + 8 = 15.\n#### 85", "#### −10", "#### 11", "So 99 + 1 = 100."];
        var r = TaskAccuracy.Score(new ArithmeticGenerator(), Examples, completions, ["StopString", "Length", "EndOfSequence", "Length"]);
        Assert.Equal(2, r.Correct);                                           // 85 and −10 (Unicode minus); 11 is wrong, no #### line is no answer
        Assert.Equal(4, r.Total);
        Assert.Equal(50.0, r.Percent);
        Assert.Equal([1.0, 1.0, 0.0, 0.0], r.Outputs.Select(o => o.Score));
        Assert.Equal("Length", r.Outputs[1].FinishReason);
    }

    [Fact]
    public void Score_R1Template_OnlyTheOneAnswerTagCountsAndFormatRateIsExact()
    {
        string[] completions =
        [
            "<think>\n7 + 8 = 15\n</think>\n<answer>85</answer>",      // right and well-formed
            "<think>\nx\n</think>\n#### -10",                            // right by ####, but R1 scores only the tag
            "<think>\nx\n</think>\n<answer>10</answer> more",            // right tag, text after it: format 0
            "<answer>100</answer><answer>100</answer>",                    // two answers
        ];
        var r = TaskAccuracy.Score(new ArithmeticGenerator(), Examples, completions, template: TaskTemplate.R1);
        Assert.Equal([1.0, 0.0, 1.0, 0.0], r.Outputs.Select(o => o.Score));
        Assert.Equal(25.0, r.FormatPercent);
        var plain = TaskAccuracy.Score(new ArithmeticGenerator(), Examples, completions);
        Assert.Equal([1.0, 1.0, 1.0, 1.0], plain.Outputs.Select(o => o.Score));     // the lenient plain rule reads every form
    }

    [Fact]
    public void EvalCli_R1Template_ReportsFormatRateAndTemplate()
    {
        using var tmp = new TempDir();
        string dir = ByteModel(tmp);
        var r = CliHarness.Run("eval", "--model", dir, "--task", "arithmetic", "--levels", "2", "--count", "3", "--max-new-tokens", "8", "--template", "r1", "--json", tmp["acc.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("r1 format 0.0%", r.Stdout);                     // a random model writes no think block
        using var doc = JsonDocument.Parse(File.ReadAllText(tmp["acc.json"]));
        Assert.Equal("r1", doc.RootElement.GetProperty("template").GetString());
        Assert.Equal(0.0, doc.RootElement.GetProperty("format_rate").GetDouble());
    }

    [Fact]
    public void Score_CountMismatch_Throws() =>
        Assert.Throws<ArgumentException>(() => TaskAccuracy.Score(null, Examples, ["#### 85"]));

    [Fact]
    public void Measure_TinyModel_CountsMatchRescoredOutputs()
    {
        using var tmp = new TempDir();
        string dir = ByteModel(tmp);
        using var lm = ModelLoader.Load(dir);
        var scorer = new TaskAccuracy(lm, TokenizerLoader.Load(dir), PromptFormat.Plain);
        var r = scorer.Measure(new ArithmeticGenerator(), Examples, new GenerationOptions { MaxNewTokens = 8 }, batchSize: 3);
        Assert.Equal(4, r.Total);
        Assert.Equal(Examples.Select(e => e.Prompt), r.Outputs.Select(o => o.Prompt));
        Assert.Equal(r.Outputs.Count(o => Reward.Correctness(o.Completion, o.Answer) == 1), r.Correct);
    }

    [Fact]
    public void Complete_GreedyInBatchesOfOneOrAll_SameTexts()
    {
        using var tmp = new TempDir();
        string dir = ByteModel(tmp);
        using var lm = ModelLoader.Load(dir);
        var scorer = new TaskAccuracy(lm, TokenizerLoader.Load(dir), PromptFormat.Plain);
        var prompts = Examples.Select(e => e.Prompt).ToList();
        var one = scorer.Complete(prompts, new GenerationOptions { MaxNewTokens = 6 }, batchSize: 1);
        var all = scorer.Complete(prompts, new GenerationOptions { MaxNewTokens = 6 }, batchSize: 64);
        Assert.Equal([0, 1, 2, 3], one.Select(r => r.PromptIndex));
        Assert.Equal(all.Select(r => r.PromptIndex), one.Select(r => r.PromptIndex));
        Assert.Equal(all.Select(r => r.Text), one.Select(r => r.Text));
    }

    [Fact]
    public void Complete_ThreeSamplesPerPrompt_GroupedByPrompt()
    {
        using var tmp = new TempDir();
        string dir = ByteModel(tmp);
        using var lm = ModelLoader.Load(dir);
        var scorer = new TaskAccuracy(lm, TokenizerLoader.Load(dir), PromptFormat.Plain);
        var r = scorer.Complete(Examples.Select(e => e.Prompt).ToList(),
            new GenerationOptions { MaxNewTokens = 4, DoSample = true, NumReturnSequences = 3, Seed = 5 }, batchSize: 2);
        Assert.Equal([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3], r.Select(x => x.PromptIndex));
    }

    [Fact]
    public void PromptIds_PlainAndChat_QuestionLineOrOneUserTurn()
    {
        var bytes = ByteTokenizer();
        var chatTokenizer = ChatTemplates.ChatMl.WithSpecialTokens(bytes);
        Assert.Equal(PromptFormat.Plain, TaskAccuracy.Detect(bytes, ChatTemplates.ChatMl));
        Assert.Equal(PromptFormat.Chat, TaskAccuracy.Detect(chatTokenizer, ChatTemplates.ChatMl));
        using var tmp = new TempDir();
        using var lm = ModelLoader.Load(ByteModel(tmp));
        var plain = new TaskAccuracy(lm, bytes, PromptFormat.Plain);
        var chat = new TaskAccuracy(lm, chatTokenizer, PromptFormat.Chat);
        Assert.Equal("What is 1 + 2?\n", bytes.Decode(plain.PromptIds("What is 1 + 2?")));
        Assert.Equal("<|im_start|>user\nWhat is 1 + 2?<|im_end|>\n<|im_start|>assistant\n", chatTokenizer.Decode(chat.PromptIds("What is 1 + 2?")));
        Assert.Equal(["\n\n"], plain.Options(new GenerationOptions()).StopStrings);
        Assert.Equal([ChatTemplates.ChatMl.EndOfTurnId(chatTokenizer)], chat.Options(new GenerationOptions()).EosTokenId);
    }

    [Fact]
    public void IsWellFormed_CutOffOrSpecialTokenInText_False()
    {
        var bytes = ByteTokenizer();
        using var tmp = new TempDir();
        using var lm = ModelLoader.Load(ByteModel(tmp));
        var chat = new TaskAccuracy(lm, ChatTemplates.ChatMl.WithSpecialTokens(bytes), PromptFormat.Chat);
        var plain = new TaskAccuracy(lm, bytes, PromptFormat.Plain);
        GenerationResult R(string text, FinishReason why) => new(0, [], text, why);
        Assert.True(chat.IsWellFormed(R("#### 5", FinishReason.EndOfSequence)));
        Assert.False(chat.IsWellFormed(R("#### 5", FinishReason.Length)));
        Assert.False(chat.IsWellFormed(R("#### 5<|im_start|> 1 + 1", FinishReason.EndOfSequence)));
        Assert.True(plain.IsWellFormed(R("#### 5<|im_start|>", FinishReason.StopString)));   // plain prompts know no chat tokens
        Assert.False(plain.IsWellFormed(R("#### 5", FinishReason.Length)));
    }

    [Fact]
    public void Constructor_ChatWithoutSpecialTokens_ConfigException()
    {
        using var tmp = new TempDir();
        using var lm = ModelLoader.Load(ByteModel(tmp));
        Assert.Throws<ConfigException>(() => new TaskAccuracy(lm, ByteTokenizer(), PromptFormat.Chat));
    }

    private static ITextTokenizer ByteTokenizer()
    {
        using var tmp = new TempDir();
        ByteTokenizerFiles.Write(tmp.Path);
        return TokenizerLoader.Load(tmp.Path);
    }

    [Fact]
    public void EvalCli_TaskOnTinyModel_WritesJsonWithEveryOutput()
    {
        using var tmp = new TempDir();
        string dir = ByteModel(tmp);
        var r = CliHarness.Run("eval", "--model", dir, "--task", "arithmetic", "--levels", "2,3", "--count", "5", "--max-new-tokens", "8", "--json", tmp["acc.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("arithmetic accuracy", r.Stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(tmp["acc.json"]));
        var root = doc.RootElement;
        Assert.Equal(5, root.GetProperty("total").GetInt32());
        Assert.Equal("greedy", root.GetProperty("decoding").GetString());
        Assert.Equal("plain", root.GetProperty("format").GetString());
        var outputs = root.GetProperty("outputs").EnumerateArray().ToList();
        Assert.Equal(TaskExport.TestSet(new ArithmeticGenerator(), [2, 3], 5).Select(e => e.Prompt), outputs.Select(o => o.GetProperty("prompt").GetString()));
        Assert.Equal(outputs.Count(o => o.GetProperty("score").GetDouble() == 1), root.GetProperty("correct").GetInt32());
    }

    [Theory]
    [InlineData("--task", "algebra")]
    [InlineData("--levels", "0")]
    [InlineData("--count", "0")]
    [InlineData("--max-new-tokens", "500")]
    [InlineData("--temperature", "0")]
    [InlineData("--template", "r2")]
    public void EvalCli_BadTaskFlag_ExitsTwo(string flag, string value)
    {
        using var tmp = new TempDir();
        string dir = ByteModel(tmp);
        var args = new List<string> { "eval", "--model", dir, "--task", "arithmetic", "--sample", "--count", "2" };
        int at = args.IndexOf(flag);
        if (at >= 0) args[at + 1] = value; else args.AddRange([flag, value]);
        var r = CliHarness.Run([.. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
    }

    [Fact]
    public void EvalCli_MissingModelOrBothDataAndTask_ExitsTwo()
    {
        using var tmp = new TempDir();
        var missing = CliHarness.Run("eval", "--model", tmp["nope"], "--task", "arithmetic");
        var both = CliHarness.Run("eval", "--model", ByteModel(tmp), "--task", "arithmetic", "--data", tmp["x.txt"]);
        var neither = CliHarness.Run("eval", "--model", ByteModel(tmp, "m2"));
        Assert.Equal([2, 2, 2], new[] { missing.ExitCode, both.ExitCode, neither.ExitCode });
        Assert.Contains("does not exist", missing.Stderr);
    }

    [Fact]
    public void DataPairsCli_TinyModel_PairsAreCorrectOverWrongAndStatsCount()
    {
        using var tmp = new TempDir();
        string dir = ByteModel(tmp);
        var r = CliHarness.Run("data", "pairs", "--model", dir, "--task", "arithmetic", "--levels", "2", "--count", "3", "--samples", "3",
            "--max-new-tokens", "6", "--out", tmp["pairs.jsonl"], "--stats", tmp["stats.json"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var stats = JsonDocument.Parse(File.ReadAllText(tmp["stats.json"]));
        Assert.Equal(3, stats.RootElement.GetProperty("prompts").GetInt32());
        Assert.Equal(3, stats.RootElement.GetProperty("samples_per_prompt").GetInt32());
        Assert.Equal(9, stats.RootElement.GetProperty("usable_samples").GetInt32() + stats.RootElement.GetProperty("malformed_samples").GetInt32());
        var lines = File.ReadAllLines(tmp["pairs.jsonl"]);
        Assert.Equal(stats.RootElement.GetProperty("pairs").GetInt32(), lines.Length);
        foreach (var line in lines)
        {
            var pair = JsonDocument.Parse(line).RootElement;
            var words = pair.GetProperty("prompt").GetString()!.TrimEnd('?').Split(' ');   // What is A op B?
            long a = long.Parse(words[2]), b = long.Parse(words[4]);
            string answer = (words[3] == "+" ? a + b : a - b).ToString();
            Assert.Equal(1.0, Reward.Correctness(pair.GetProperty("chosen").GetString()!, answer));
            Assert.Equal(0.0, Reward.Correctness(pair.GetProperty("rejected").GetString()!, answer));
        }
    }

    [Theory]
    [InlineData("--samples", "1")]
    [InlineData("--split", "dev")]
    [InlineData("--task", "gsm8k")]
    public void DataPairsCli_BadFlag_ExitsTwo(string flag, string value)
    {
        using var tmp = new TempDir();
        string dir = ByteModel(tmp);
        var r = CliHarness.Run("data", "pairs", "--model", dir, "--task", "arithmetic", "--count", "2", flag, value, "--out", tmp["p.jsonl"]);
        Assert.Equal(2, r.ExitCode);
        Assert.False(File.Exists(tmp["p.jsonl"]));
    }
}
