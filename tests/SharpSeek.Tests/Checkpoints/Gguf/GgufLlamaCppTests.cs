using SharpSeek.Checkpoints.Gguf;
using SharpSeek.Tests.TestSupport;
using Xunit.Abstractions;

namespace SharpSeek.Tests.Checkpoints.Gguf;

/// <summary>
/// Exports tiny seeded models and runs the GGUF in llama.cpp itself (LLamaSharp 0.30.0's bundled build): f32 logits at
/// every prompt position within 1e-3 of SharpSeek's and the same 16 greedy tokens; q8_0 / q4_0 top-1 agreement reported.
/// </summary>
public class GgufLlamaCppTests(ITestOutputHelper output)
{
    private const double LogitTolerance = 1e-3;
    private const int GreedySteps = 16;

    public static TheoryData<string> F32Models => ["gpt2", "gpt2-untied", "deepseek-dense", "deepseek-moe", "deepseek-yarn"];

    /// <summary>A test model of <paramref name="name"/>'s config in <paramref name="dir"/> and its f32 GGUF: (model folder, GGUF path).</summary>
    private static (string Model, string Gguf) ExportF32(TempDir dir, string name)
    {
        string model = GgufTestModels.Create(dir["m"], GgufTestModels.Config(name));
        GgufExporter.Export(model, dir["m.gguf"], GgufType.F32);
        return (model, dir["m.gguf"]);
    }

    [Theory]
    [MemberData(nameof(F32Models))]
    public void ExportF32_LlamaCppLogitsAtEveryPosition_Within1e3(string name)
    {
        using var dir = new TempDir();
        var (model, gguf) = ExportF32(dir, name);

        var ours = GgufTestModels.Logits(model, GgufTestModels.Prompt);
        var theirs = LlamaCppRunner.Logits(gguf, GgufTestModels.Prompt);

        double maxDiff = MaxAbsDiff(ours, theirs);
        output.WriteLine($"{name}: max |logit diff| over {ours.Length} positions = {maxDiff:E2}");
        Assert.True(maxDiff <= LogitTolerance, $"{name}: llama.cpp logits differ from SharpSeek's by {maxDiff:E3} (tolerance {LogitTolerance:E0})");
    }

    [Theory]
    [MemberData(nameof(F32Models))]
    public void ExportF32_LlamaCppGreedyContinuation_IdenticalToSharpSeek(string name)
    {
        using var dir = new TempDir();
        var (model, gguf) = ExportF32(dir, name);

        var ours = GgufTestModels.Greedy(model, GgufTestModels.Prompt, GreedySteps);
        var theirs = LlamaCppRunner.Greedy(gguf, GgufTestModels.Prompt, GreedySteps);

        output.WriteLine($"{name}: {string.Join(' ', ours.Skip(GgufTestModels.Prompt.Length))}");
        Assert.Equal(ours, theirs);
    }

    /// <summary>
    /// Top-1 agreement of the quantized file in llama.cpp with SharpSeek's fp32 model, at every position of the prompt
    /// followed by SharpSeek's 16 greedy tokens (teacher-forced, so one early miss does not count twice).
    /// </summary>
    [Theory]
    [InlineData("gpt2", GgufType.F16, 0.95)]
    [InlineData("gpt2", GgufType.Q8_0, 0.9)]
    [InlineData("gpt2", GgufType.Q4_0, 0.8)]
    [InlineData("deepseek-dense", GgufType.Q8_0, 0.85)]
    [InlineData("deepseek-dense", GgufType.Q4_0, 0.4)]
    [InlineData("deepseek-moe", GgufType.F16, 0.95)]
    [InlineData("deepseek-moe", GgufType.Q8_0, 0.85)]
    [InlineData("deepseek-moe", GgufType.Q4_0, 0.2)]
    public void ExportQuantized_LlamaCppTop1AgreementWithFp32_AboveFloor(string name, GgufType type, double floor)
    {
        using var dir = new TempDir();
        string model = GgufTestModels.Create(dir["m"], GgufTestModels.Config(name));
        GgufExporter.Export(model, dir["m.gguf"], type);
        var sequence = GgufTestModels.Greedy(model, GgufTestModels.Prompt, GreedySteps);

        var ours = GgufTestModels.Logits(model, sequence);
        var theirs = LlamaCppRunner.Logits(dir["m.gguf"], sequence);
        int agree = Enumerable.Range(0, sequence.Length).Count(t => LlamaCppRunner.ArgMax(ours[t]) == LlamaCppRunner.ArgMax(theirs[t]));
        double rate = (double)agree / sequence.Length;

        output.WriteLine(LlamaCppRunner.SystemInfo());
        output.WriteLine($"{name} {GgufTypes.Name(type)}: top-1 agreement {agree}/{sequence.Length} = {rate:P1}, max |logit diff| {MaxAbsDiff(ours, theirs):E2}, file {new FileInfo(dir["m.gguf"]).Length:N0} bytes");
        Assert.True(rate >= floor, $"{name} {type}: top-1 agreement {rate:P1} is below {floor:P0}");
    }

    [Fact]
    public void ExportByteTokenizer_LlamaCppTokenizesTextLikeSharpSeek()
    {
        using var dir = new TempDir();
        string model = GgufTestModels.Create(dir["m"], GgufTestModels.Gpt2);
        GgufExporter.Export(model, dir["m.gguf"], GgufType.F32);
        const string text = "To be, or not to be: that is the question.\nWhether 'tis nobler";

        var ours = SharpSeek.Tokenization.TokenizerLoader.Load(model).Encode(text);
        var theirs = LlamaCppRunner.Tokenize(dir["m.gguf"], [text])[0];

        Assert.Equal(ours, theirs);
    }

    /// <summary>Reference fixture tokenizer/gpt2_bpe: llama.cpp, reading the exported GPT-2 vocabulary and merges, encodes every case to the fixture's ids.</summary>
    [Fact]
    public void ExportGpt2Bpe_LlamaCppTokenizesFixtureCases_ToReferenceIds()
    {
        using var dir = new TempDir();
        string caseDir = SharpSeek.Tests.Tokenization.TokenizerCases.FirstCaseDir();
        string model = dir["m"];
        const string config = """{"model_type": "gpt2", "vocab_size": 50257, "n_positions": 32, "n_embd": 32, "n_layer": 1, "n_head": 2}""";
        using (SharpSeek.Models.ModelFactory.CreateAndSave(config, model)) { }
        foreach (var f in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(caseDir, f), Path.Combine(model, f));
        GgufExporter.Export(model, dir["m.gguf"], GgufType.Q8_0);

        var cases = SharpSeek.Tests.Tokenization.TokenizerCases.Load(caseDir);
        var ids = LlamaCppRunner.Tokenize(dir["m.gguf"], cases.Select(c => c.Text).ToList());
        var mismatches = cases.Where((c, i) => !ids[i].SequenceEqual(c.Ids)).Select(c => c.Text).ToList();

        output.WriteLine($"{cases.Count - mismatches.Count}/{cases.Count} cases tokenized identically");
        Assert.Empty(mismatches);
    }

    private static double MaxAbsDiff(float[][] a, float[][] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int t = 0; t < a.Length; t++)
        {
            Assert.Equal(a[t].Length, b[t].Length);
            for (int v = 0; v < a[t].Length; v++) max = Math.Max(max, Math.Abs(a[t][v] - b[t][v]));
        }
        return max;
    }
}
