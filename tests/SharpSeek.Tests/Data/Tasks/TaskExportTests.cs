using System.Text.Json;
using SharpSeek.Data.Tasks;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Data.Tasks;

public class TaskExportTests
{
    private static readonly ArithmeticGenerator Arithmetic = new();

    [Fact]
    public void Examples_TrainSplit_HoldsNoTestPrompt()
    {
        var train = TaskExport.Examples(Arithmetic, [2, 3], TaskSplit.Train, 20_000, seed: 7);
        var test = TaskExport.TestSet(Arithmetic, [2, 3], 1000).Select(e => TaskSplits.NormalizePrompt(e.Prompt)).ToHashSet();

        Assert.Equal(20_000, train.Count);
        Assert.All(train, e => Assert.Equal(TaskSplit.Train, TaskSplits.Of(e.Prompt)));
        Assert.DoesNotContain(train, e => test.Contains(TaskSplits.NormalizePrompt(e.Prompt)));
        Assert.Equal(1000, test.Count);                                       // distinct
    }

    [Fact]
    public void Examples_TwoLevelsFiveExamples_InterleavedThreeAndTwo()
    {
        var examples = TaskExport.Examples(Arithmetic, [2, 3], TaskSplit.Train, 5, seed: 1);
        // "What is 47 + 38?" has 2-digit operands at level 2, 3-digit at level 3.
        var digits = examples.Select(e => e.Prompt.Split(' ')[2].Length).ToArray();
        Assert.Equal([2, 3, 2, 3, 2], digits);
    }

    [Fact]
    public void TestSet_SameLevelsTwice_SamePrompts()
    {
        var a = TaskExport.TestSet(Arithmetic, [2, 3], 50).Select(e => e.Prompt);
        var b = TaskExport.TestSet(Arithmetic, [2, 3], 50).Select(e => e.Prompt);
        Assert.Equal(a, b);
    }

    [Theory]
    [InlineData("2,3", new[] { 2, 3 })]
    [InlineData("1-3", new[] { 1, 2, 3 })]
    [InlineData(" 4 , 1 ", new[] { 4, 1 })]
    public void ParseLevels_ValidText_Levels(string text, int[] expected) =>
        Assert.Equal(expected, TaskExport.ParseLevels(text, Arithmetic));

    [Theory]
    [InlineData("0")]
    [InlineData("6")]
    [InlineData("2,2")]
    [InlineData("3-2")]
    [InlineData("two")]
    [InlineData("")]
    public void ParseLevels_BadText_ConfigException(string text) =>
        Assert.Throws<ConfigException>(() => TaskExport.ParseLevels(text, Arithmetic));

    [Fact]
    public void PlainText_AnswerStyle_PromptLineAnswerLineBlankLine()
    {
        var e = TaskExport.WithStyle(new TaskExample("What is 47 + 38?", "85", "7 + 8 = 15, write 5, carry 1.\n#### 85"), CompletionStyle.Answer);
        Assert.Equal("What is 47 + 38?\n#### 85\n\n", TaskExport.PlainText(e));
    }

    [Fact]
    public void PlainText_WorkStyle_KeepsTheWork()
    {
        var e = new TaskExample("What is 47 + 38?", "85", "7 + 8 = 15, write 5, carry 1.\n#### 85");
        Assert.Equal("What is 47 + 38?\n7 + 8 = 15, write 5, carry 1.\n#### 85\n\n", TaskExport.PlainText(TaskExport.WithStyle(e, CompletionStyle.Work)));
    }

    [Fact]
    public void WritePrompts_TwoExamples_PromptAndAnswerPerLine()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        TaskExport.WritePrompts(tmp["p.jsonl"], [new("What is 1 + 2?", "3", "#### 3"), new("What is 10 - 20?", "-10", "#### -10")]);
        var lines = File.ReadAllLines(tmp["p.jsonl"]);
        Assert.Equal(["""{"prompt":"What is 1 + 2?","answer":"3"}""", """{"prompt":"What is 10 - 20?","answer":"-10"}"""], lines);
    }

    [Fact]
    public void WritePrompts_WithTask_AddsTheTaskName()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        TaskExport.WritePrompts(tmp["p.jsonl"], [new("What is 1 + 2?", "3", "#### 3")], task: "arithmetic");
        Assert.Equal(["""{"prompt":"What is 1 + 2?","answer":"3","task":"arithmetic"}"""], File.ReadAllLines(tmp["p.jsonl"]));
    }

    [Fact]
    public void DataTasksCli_R1TemplateText_EverySampleScoresOneOnFormatAndTaggedAnswer()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        var r = CliHarness.Run("data", "tasks", "--task", "countdown", "--levels", "1-2", "--count", "50", "--template", "r1", "--out", tmp["t.txt"]);
        var p = CliHarness.Run("data", "tasks", "--task", "countdown", "--levels", "1", "--count", "5", "--template", "r1-table1", "--format", "prompts", "--out", tmp["p.jsonl"]);
        Assert.True(r.ExitCode == 0 && p.ExitCode == 0, r.Stderr + p.Stderr);
        var samples = File.ReadAllText(tmp["t.txt"]).Split(TaskExport.SampleSeparator, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(50, samples.Length);
        foreach (var sample in samples)
        {
            int newline = sample.IndexOf('\n');
            string prompt = sample[..newline], completion = sample[(newline + 1)..];
            Assert.StartsWith("Using the numbers", prompt);
            Assert.Equal(1.0, Reward.Format(completion));
            Assert.Equal(1.0, Reward.TaggedScore(new CountdownGenerator(), new TaskExample(prompt, "", ""), completion));
        }
        var prompts = SharpSeek.Data.Prompts.PromptFile.Read(tmp["p.jsonl"]);
        Assert.All(prompts, q => Assert.Equal(("countdown", true), (q.Task, q.Prompt.StartsWith(R1Template.Preamble, StringComparison.Ordinal))));
    }

    [Fact]
    public void DataTasksCli_TrainText_NoTestPromptAndCountsSamples()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        var r = CliHarness.Run("data", "tasks", "--task", "arithmetic", "--levels", "2", "--split", "train", "--count", "3000", "--out", tmp["t.txt"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var samples = File.ReadAllText(tmp["t.txt"]).Split(TaskExport.SampleSeparator, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3000, samples.Length);
        var prompts = samples.Select(s => s.Split('\n')[0]).ToList();
        Assert.All(prompts, p => Assert.Equal(TaskSplit.Train, TaskSplits.Of(p)));
        Assert.All(samples, s => Assert.EndsWith("#### " + AnswerChecker.ExtractFinalAnswer(s), s));
    }

    [Fact]
    public void DataTasksCli_TestPromptsAndSft_ParseAndStayInTestSplit()
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        var p = CliHarness.Run("data", "tasks", "--split", "test", "--count", "40", "--format", "prompts", "--out", tmp["p.jsonl"]);
        var s = CliHarness.Run("data", "tasks", "--split", "test", "--count", "40", "--format", "sft", "--completion", "answer", "--out", tmp["s.jsonl"]);
        Assert.True(p.ExitCode == 0 && s.ExitCode == 0, p.Stderr + s.Stderr);
        var prompts = File.ReadAllLines(tmp["p.jsonl"]).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("prompt").GetString()!).ToList();
        Assert.Equal(TaskExport.TestSet(new ArithmeticGenerator(), [2, 3], 40).Select(e => e.Prompt), prompts);
        var first = JsonDocument.Parse(File.ReadLines(tmp["s.jsonl"]).First()).RootElement.GetProperty("messages");
        Assert.Equal(prompts[0], first[0].GetProperty("content").GetString());
        Assert.StartsWith("#### ", first[1].GetProperty("content").GetString());
    }

    [Theory]
    [InlineData("--task", "algebra")]
    [InlineData("--levels", "9")]
    [InlineData("--split", "dev")]
    [InlineData("--format", "csv")]
    [InlineData("--completion", "both")]
    [InlineData("--task", "gsm8k")]
    public void DataTasksCli_BadFlag_ExitsTwo(string flag, string value)
    {
        using var tmp = new SharpSeek.Tests.TestSupport.TempDir();
        var r = CliHarness.Run("data", "tasks", flag, value, "--count", "5", "--out", tmp["x"]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.False(File.Exists(tmp["x"]));
    }
}
