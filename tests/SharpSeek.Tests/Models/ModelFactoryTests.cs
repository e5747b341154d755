using SharpSeek.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models;

public class ModelFactoryTests
{
    private static string Tiny => ModelFactory.ResolveConfigJson("gpt2", "tiny");

    [Fact]
    public void Create_CallersRandomStream_LeftAsItWas()
    {
        torch.manual_seed(5);
        using var expected = torch.rand(8);
        torch.manual_seed(5);
        using (ModelFactory.Create(Tiny, seed: 99)) { }
        using var actual = torch.rand(8);
        Assert.Equal(expected.data<float>().ToArray(), actual.data<float>().ToArray());
    }

    [Fact]
    public void Create_SameSeed_SameWeightsWhateverTheGlobalSeed()
    {
        torch.manual_seed(1);
        using var a = ModelFactory.Create(Tiny, seed: 3);
        torch.manual_seed(2);
        using var b = ModelFactory.Create(Tiny, seed: 3);
        foreach (var ((name, pa), (_, pb)) in a.named_parameters().Zip(b.named_parameters()))
            Assert.True(pa.equal(pb).all().item<bool>(), name);
    }
}
