using SharpSeek.Training;

namespace SharpSeek.Tests.Training;

public class TrainConfigTests
{
    [Fact]
    public void WithOverrides_NumbersStringsAndNull_AreApplied()
    {
        var c = new TrainConfig { InitFrom = "x" }.WithOverrides(["lr=0.002", "n_layer=6", "precision=bf16", "init_from=null", "decay_embeddings=true"]);
        Assert.Equal((0.002, 6, "bf16", null, true), (c.Lr, c.NLayer, c.Precision, c.InitFrom, c.DecayEmbeddings));
    }

    [Theory]
    [InlineData("nope=1")]
    [InlineData("n_layer=two")]
    [InlineData("lr")]
    public void WithOverrides_BadAssignment_ThrowsConfigException(string assignment) =>
        Assert.Throws<ConfigException>(() => new TrainConfig().WithOverrides([assignment]));

    [Fact]
    public void Validate_MinLrAboveLr_ThrowsNamingTheField()
    {
        var e = Assert.Throws<ConfigException>(() => new TrainConfig { Lr = 1e-4, MinLr = 1e-3 }.Validate());
        Assert.Contains("min_lr", e.Message);
    }

    [Fact]
    public void Validate_GradReduceDTypeFp16_ThrowsNamingTheChoices()
    {
        Assert.Equal("fp32", new TrainConfig().GradReduceDType);
        new TrainConfig { GradReduceDType = "bf16" }.Validate();
        var e = Assert.Throws<ConfigException>(() => new TrainConfig().WithOverrides(["grad_reduce_dtype=fp16"]).Validate());
        Assert.Equal("grad_reduce_dtype must be fp32 or bf16, got 'fp16'", e.Message);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("Infinity")]
    [InlineData("NaN")]
    public void Validate_CollectiveTimeoutNegativeOrNotFinite_ThrowsNamingTheField(string value)
    {
        Assert.Equal(30, new TrainConfig().CollectiveTimeoutMinutes);
        Assert.Equal(0, new TrainConfig().WithOverrides(["collective_timeout_minutes=0"]).CollectiveTimeoutMinutes);
        var c = new TrainConfig { CollectiveTimeoutMinutes = double.Parse(value, System.Globalization.CultureInfo.InvariantCulture) };
        var e = Assert.Throws<ConfigException>(c.Validate);
        Assert.Equal($"collective_timeout_minutes must be 0 (off) or positive minutes, got {c.CollectiveTimeoutMinutes}", e.Message);
    }

    [Fact]
    public void Validate_ZeroStage2_ThrowsNamingTheValues()
    {
        var e = Assert.Throws<ConfigException>(() => new TrainConfig().WithOverrides(["zero_stage=2"]).Validate());
        Assert.Equal("zero_stage must be 0 (off) or 1 (sharded optimizer state), got 2", e.Message);
    }

    [Fact]
    public void Load_RepositoryConfigs_AreValid()
    {
        string dir = AppContext.BaseDirectory;
        while (!Directory.Exists(Path.Combine(dir, "configs"))) dir = Path.GetDirectoryName(dir) ?? throw new DirectoryNotFoundException("configs/");
        dir = Path.Combine(dir, "configs");
        var files = Directory.GetFiles(dir, "train-*.json");
        Assert.NotEmpty(files);
        foreach (var f in files) TrainConfig.Load(f).Validate();
    }

    [Fact]
    public void ToJson_RoundTrip_GivesEqualConfig()
    {
        var c = new TrainConfig { Lr = 5e-4, DataDir = "d", InitFrom = "m" };
        Assert.Equal(c, TrainConfig.FromJsonText(c.ToJson(), "test"));
    }
}
