using SharpSeek.Data.Prompts;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Data.Prompts;

public class PromptFileTests
{
    private static string Write(SharpSeek.Tests.TestSupport.TempDir dir, params string[] lines)
    {
        string path = dir["prompts.jsonl"];
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Read_PromptsWithAndWithoutAnswers_KeepsOrderAnswersAndLines()
    {
        using var dir = new SharpSeek.Tests.TestSupport.TempDir();
        string path = Write(dir, """{"prompt": "What is 2 + 3?", "answer": "5"}""", "", """{"prompt": "Say hi"}""", """{"prompt": "What is 7 - 9?", "answer": -2}""");
        var prompts = PromptFile.Read(path);
        Assert.Equal(3, prompts.Count);
        Assert.Equal(("What is 2 + 3?", "5"), (prompts[0].Prompt, prompts[0].Answer));
        Assert.Equal(("Say hi", (string?)null), (prompts[1].Prompt, prompts[1].Answer));
        Assert.Equal("-2", prompts[2].Answer);
        Assert.Equal([1, 3, 4], prompts.Select(p => p.Line));
    }

    [Theory]
    [InlineData("not json", "prompts.jsonl:2: not a JSON object")]
    [InlineData("""{"question": "x"}""", "prompts.jsonl:2: missing \"prompt\"")]
    [InlineData("""{"prompt": "  "}""", "prompts.jsonl:2: empty \"prompt\"")]
    [InlineData("""{"prompt": "x", "answer": [1]}""", "prompts.jsonl:2: \"answer\" must be a string or a number")]
    [InlineData("""{"prompt": "x", "task": 3}""", "prompts.jsonl:2: \"task\" must be a string")]
    [InlineData("""{"prompt": "x", "task": "chess"}""", "prompts.jsonl:2: unknown task 'chess'")]
    public void Read_BadSecondLine_ThrowsNamingFileAndLine(string line, string expected)
    {
        using var dir = new SharpSeek.Tests.TestSupport.TempDir();
        string path = Write(dir, """{"prompt": "ok"}""", line);
        var e = Assert.Throws<DataException>(() => PromptFile.Read(path));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Read_TaskField_KeptPerLineAndNullWhenAbsent()
    {
        using var dir = new SharpSeek.Tests.TestSupport.TempDir();
        string path = Write(dir, """{"prompt": "Using the numbers 3, 4, make 12.", "answer": "3 * 4", "task": "countdown"}""", """{"prompt": "What is 2 + 3?", "answer": "5"}""");
        var prompts = PromptFile.Read(path);
        Assert.Equal("countdown", prompts[0].Task);
        Assert.Null(prompts[1].Task);
    }
}
