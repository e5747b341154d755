using SharpSeek.Data.Tasks;
using SharpSeek.Tests.Data;

namespace SharpSeek.Tests.Data.Tasks;

public class Gsm8kReaderTests
{
    // The first two lines of GSM8K's train.jsonl.
    private const string Natalia = """{"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?", "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"}""";
    private const string Weng = """{"question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?", "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10"}""";

    [Fact]
    public void Read_TwoLinesAndABlankLine_ReturnsTwoExamples()
    {
        using var dir = new TempDir();
        string path = dir.File("train.jsonl", Natalia + "\n\n" + Weng + "\n");
        var examples = Gsm8kReader.Read(path);
        Assert.Equal(2, examples.Count);
        Assert.StartsWith("Natalia sold clips to 48", examples[0].Prompt);
        Assert.Equal("72", examples[0].Answer);
        Assert.Equal("10", examples[1].Answer);
        Assert.Equal("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
            examples[0].Completion);
        Assert.Equal(1.0, Reward.Correctness(examples[1].Completion, examples[1].Answer));
    }

    [Fact]
    public void Read_StripAnnotations_RemovesCalculatorCalls()
    {
        using var dir = new TempDir();
        var e = Gsm8kReader.Read(dir.File("train.jsonl", Natalia), stripAnnotations: true)[0];
        Assert.Equal("Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.\n#### 72", e.Completion);
    }

    [Fact]
    public void Read_ThousandsSeparatorInAnswer_AnswerWithoutComma()
    {
        using var dir = new TempDir();
        var e = Gsm8kReader.Read(dir.File("t.jsonl", """{"question": "q", "answer": "a lot\n#### 1,200"}"""))[0];
        Assert.Equal("1200", e.Answer);
    }

    [Theory]
    [InlineData("{\"question\": \"q\", \"answer\": ", "not valid JSON")]
    [InlineData("{\"answer\": \"#### 1\"}", "missing field \"question\"")]
    [InlineData("{\"question\": \"q\"}", "missing field \"answer\"")]
    [InlineData("{\"question\": 3, \"answer\": \"#### 1\"}", "\"question\" must be a string")]
    [InlineData("{\"question\": \"q\", \"answer\": \"it is 4\"}", "no final \"#### <number>\"")]
    [InlineData("{\"question\": \"q\", \"answer\": \"it is 4\\n#### \"}", "no final \"#### <number>\"")]
    [InlineData("[1, 2]", "expected a JSON object")]
    public void Read_BadSecondLine_ThrowsDataExceptionNamingFileAndLine(string badLine, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.jsonl", Natalia + "\n" + badLine + "\n" + Weng + "\n");
        var e = Assert.Throws<DataException>(() => Gsm8kReader.Read(path));
        Assert.Contains($"{path} line 2", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Read_MissingFile_ThrowsDataException()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DataException>(() => Gsm8kReader.Read(Path.Combine(dir.Path, "nope.jsonl")));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Read_OnlyBlankLines_ThrowsDataException()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DataException>(() => Gsm8kReader.Read(dir.File("empty.jsonl", "\n\n")));
        Assert.Contains("no examples", e.Message);
    }
}
