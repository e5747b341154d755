using SharpSeek.Training;

namespace SharpSeek.Tests.Training;

public class ParamGroupsTests
{
    [Fact]
    public void Assign_Default_DecaysOnlyNonEmbeddingMatrices()
    {
        using var model = new TinyLM(32, 16);
        var groups = ParamGroups.Assign(model, decayEmbeddings: false);
        Assert.Equal(["fc.weight", "lm_head.weight", "proj.weight"], groups.Decay.Select(p => p.Name).Order());
        Assert.Equal(["fc.bias", "lm_head.bias", "ln.bias", "ln.weight", "proj.bias", "wpe.weight", "wte.weight"], groups.NoDecay.Select(p => p.Name).Order());
    }

    [Fact]
    public void Assign_DecayEmbeddings_MovesEmbeddingsToDecayGroup()
    {
        using var model = new TinyLM(32, 16);
        var groups = ParamGroups.Assign(model, decayEmbeddings: true);
        Assert.Contains("wte.weight", groups.Decay.Select(p => p.Name));
        Assert.DoesNotContain("wte.weight", groups.NoDecay.Select(p => p.Name));
    }
}
