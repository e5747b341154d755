using SharpSeek.Training;
using SharpSeek.Training.Objectives;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>The <c>distill</c> section of a training config: snake_case keys, unknown keys and bad values rejected with one clear sentence.</summary>
public class DistillConfigTests
{
    private static TrainConfig Parse(string distill) => TrainConfig.FromJsonText($"{{\"arch\": \"gpt2\", \"distill\": {distill}}}", "test.json");

    [Fact]
    public void FromJson_FullSection_ReadsEveryKeyAndNormalisesWeights()
    {
        var c = Parse("""{"teachers": [{"path": "a", "weight": 1}, {"path": "b", "weight": 3}], "temperature": 3, "alpha": 0.25, "kl": "mix", "mix_weight": 0.7, "data": "sft", "cache": {"dir": "c", "top_k": 8}}""");
        c.Validate();
        var d = c.Distill!;
        Assert.Equal(["a", "b"], d.Teachers.Select(t => t.Path));
        Assert.Equal([0.25, 0.75], d.NormalizedWeights);
        Assert.Equal((3.0, 0.25, DivergenceKind.Mix, 0.7, "sft"), (d.Temperature, d.Alpha, d.Divergence, d.MixWeight, d.Data));
        Assert.Equal(("c", 8), (d.Cache!.Dir, d.Cache.TopK));
    }

    [Theory]
    [InlineData("""{"teachers": [{"path": "a"}], "temprature": 2}""", "temprature")]
    [InlineData("""{"teachers": [{"path": "a", "wieght": 2}]}""", "wieght")]
    [InlineData("""{"teachers": [{"path": "a"}], "cache": {"dir": "c", "k": 2}}""", "'k'")]
    public void FromJson_UnknownKey_ThrowsConfigExceptionNamingIt(string section, string key)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(section));
        Assert.Contains(key.Trim('\''), e.Message);
    }

    [Theory]
    [InlineData("""{"teachers": []}""", "distill.teachers is empty")]
    [InlineData("""{"teachers": [{"path": "a", "weight": 0}]}""", "distill.teachers[0].weight must be positive")]
    [InlineData("""{"teachers": [{"path": ""}]}""", "distill.teachers[0].path")]
    [InlineData("""{"teachers": [{"path": "a"}], "temperature": 0}""", "distill.temperature must be positive")]
    [InlineData("""{"teachers": [{"path": "a"}], "alpha": 1.5}""", "distill.alpha must be in [0, 1]")]
    [InlineData("""{"teachers": [{"path": "a"}], "kl": "jensen"}""", "distill.kl must be forward, reverse or mix")]
    [InlineData("""{"teachers": [{"path": "a"}], "kl": "mix", "mix_weight": -1}""", "distill.mix_weight")]
    [InlineData("""{"teachers": [{"path": "a"}], "data": "pairs"}""", "distill.data must be text or sft")]
    [InlineData("""{"teachers": [{"path": "a"}], "cache": {"dir": "c", "top_k": 0}}""", "distill.cache.top_k")]
    [InlineData("""{"teachers": [{"path": "a"}], "cache": {"dir": ""}}""", "distill.cache.dir")]
    public void Validate_BadValue_ThrowsConfigExceptionNamingTheField(string section, string message)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(section).Validate());
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void WithOverrides_SetDistillKey_ChangesThatKey()
    {
        var c = Parse("""{"teachers": [{"path": "a"}]}""").WithOverrides(["distill.temperature=4", "distill.kl=reverse"]);
        Assert.Equal((4.0, DivergenceKind.Reverse), (c.Distill!.Temperature, c.Distill.Divergence));
    }
}
