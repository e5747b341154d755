using System.Text.Json;
using SharpSeek.Generation;

namespace SharpSeek.Tests.Generation;

public class GenerationOptionsTests
{
    [Fact]
    public void Json_HuggingFaceKeys_Read()
    {
        const string json = """
            {"max_new_tokens": 5, "do_sample": true, "temperature": 0.7, "top_k": 3, "top_p": 0.9, "min_p": 0.05,
             "repetition_penalty": 1.3, "no_repeat_ngram_size": 2, "num_return_sequences": 2, "num_beams": 1,
             "length_penalty": 0.5, "early_stopping": true, "eos_token_id": 50256, "stop_strings": ["\n\n"], "seed": 9,
             "truncate_prompt": true}
            """;
        var o = JsonSerializer.Deserialize<GenerationOptions>(json)!;
        Assert.Equal(new GenerationOptions
        {
            MaxNewTokens = 5, DoSample = true, Temperature = 0.7, TopK = 3, TopP = 0.9, MinP = 0.05, RepetitionPenalty = 1.3,
            NoRepeatNgramSize = 2, NumReturnSequences = 2, NumBeams = 1, LengthPenalty = 0.5, EarlyStopping = true,
            EosTokenId = o.EosTokenId, StopStrings = o.StopStrings, Seed = 9, TruncatePrompt = true,
        }, o);
        Assert.Equal(new[] { 50256 }, o.EosTokenId);
        Assert.Equal(new[] { "\n\n" }, o.StopStrings);
    }

    [Fact]
    public void Json_EosTokenIdList_RoundTrips()
    {
        var o = JsonSerializer.Deserialize<GenerationOptions>("""{"eos_token_id": [1, 2]}""")!;
        Assert.Equal(new[] { 1, 2 }, o.EosTokenId);
        string written = JsonSerializer.Serialize(o);
        Assert.Contains("\"eos_token_id\":[1,2]", written);
        Assert.Equal(new[] { 1, 2 }, JsonSerializer.Deserialize<GenerationOptions>(written)!.EosTokenId);
    }

    [Fact]
    public void Defaults_AsHuggingFace_Valid()
    {
        var o = new GenerationOptions();
        o.Validate();
        Assert.Equal((20, false, 1.0, 50, 1.0, 1), (o.MaxNewTokens, o.DoSample, o.Temperature, o.TopK, o.TopP, o.NumBeams));
        Assert.True(o.IsGreedy);
    }

    [Fact]
    public void IsGreedy_SamplingAtTemperatureZero_True()
    {
        Assert.True(new GenerationOptions { DoSample = true, Temperature = 0 }.IsGreedy);
        Assert.False(new GenerationOptions { DoSample = true }.IsGreedy);
    }

    public static TheoryData<GenerationOptions, string> Invalid => new()
    {
        { new() { Temperature = -1 }, "temperature (-1)" },
        { new() { Temperature = double.NaN }, "temperature" },
        { new() { TopK = -1 }, "top_k (-1)" },
        { new() { TopP = 0 }, "top_p (0)" },
        { new() { TopP = 1.01 }, "top_p (1.01)" },
        { new() { MinP = -0.1 }, "min_p (-0.1)" },
        { new() { MinP = 1.5 }, "min_p (1.5)" },
        { new() { RepetitionPenalty = 0 }, "repetition_penalty (0)" },
        { new() { NoRepeatNgramSize = -2 }, "no_repeat_ngram_size (-2)" },
        { new() { NumBeams = 0 }, "num_beams (0)" },
        { new() { NumReturnSequences = 0 }, "num_return_sequences (0)" },
        { new() { NumBeams = 2, NumReturnSequences = 3 }, "num_return_sequences (3)" },
        { new() { NumBeams = 2, DoSample = true }, "do_sample" },
        { new() { MaxNewTokens = 0 }, "max_new_tokens (0)" },
        { new() { EosTokenId = [-3] }, "eos_token_id (-3)" },
        { new() { StopStrings = [""] }, "stop_strings" },
        { new() { Seed = -1 }, "seed (-1)" },
    };

    [Theory, MemberData(nameof(Invalid))]
    public void Validate_BadValue_ThrowsNamingIt(GenerationOptions options, string expected)
    {
        var e = Assert.Throws<GenerationException>(options.Validate);
        Assert.StartsWith(expected, e.Message);
    }

    [Fact]
    public void PromptTokensToKeep_Fits_KeepsAll()
    {
        Assert.Equal(10, new GenerationOptions { MaxNewTokens = 6 }.PromptTokensToKeep(10, 16));
    }

    [Fact]
    public void PromptTokensToKeep_TooLong_ThrowsNamingLengths()
    {
        var e = Assert.Throws<GenerationException>(() => new GenerationOptions { MaxNewTokens = 7 }.PromptTokensToKeep(10, 16));
        Assert.Contains("prompt (10 tokens)", e.Message);
        Assert.Contains("context (16 tokens)", e.Message);
    }

    [Fact]
    public void PromptTokensToKeep_TooLongWithTruncation_KeepsWhatFits()
    {
        Assert.Equal(9, new GenerationOptions { MaxNewTokens = 7, TruncatePrompt = true }.PromptTokensToKeep(10, 16));
    }

    [Fact]
    public void PromptTokensToKeep_MaxNewTokensFillsContext_Throws()
    {
        Assert.Throws<GenerationException>(() => new GenerationOptions { MaxNewTokens = 16, TruncatePrompt = true }.PromptTokensToKeep(3, 16));
    }
}
