using System.Text.Json.Nodes;
using SharpSeek.Models.Common;
using SharpSeek.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Quantization;

/// <remarks>Exact comparisons set the kernels' activations to float32 (process-wide), hence the non-parallel collection.</remarks>
[Collection(SharpSeek.Tests.Kernels.SimdPathCollection.Name)]
public class ProjectionQuantizationTests
{
    [Fact]
    public void DeferWeights_NewProjections_HoldMetaWeightsUntilMaterialized()
    {
        using var scope = NewDisposeScope();
        Projection deferred, plain;
        using (Projection.DeferWeights()) deferred = new Projection(64, 32);
        plain = new Projection(64, 32);
        Assert.Equal(DeviceType.META, deferred.Weight.device_type);
        Assert.Equal(DeviceType.CPU, plain.Weight.device_type);
        Assert.Equal(DeviceType.CPU, deferred.Bias!.device_type);
        Projection.MaterializeDeferred(deferred);
        Assert.Equal(DeviceType.CPU, deferred.Weight.device_type);
        Assert.Equal([32L, 64L], deferred.named_parameters().Single(p => p.name == "weight").parameter.shape);
    }

    [Fact]
    public void Quantize_Projection_RemovesFloatWeightFromParametersAndStateDict()
    {
        using var scope = NewDisposeScope();
        var p = new Projection(64, 16);
        p.Quantize(QuantizedWeight.Quantize(p.Weight, 8));
        Assert.Equal(["bias"], p.named_parameters().Select(n => n.name).ToArray());
        Assert.Equal(["bias"], p.state_dict().Keys.ToArray());
        Assert.Equal(64, p.InFeatures);
        Assert.Equal(16, p.OutFeatures);
        Assert.Equal(ScalarType.Float32, p.WeightDType);
        Assert.False(p.IsPlainMatrix);
    }

    [Fact]
    public void Forward_QuantizedWithoutGrad_EqualsLinearOverDequantizedWeight()
    {
        using var exact = QuantizedModels.ExactActivations();
        using var scope = NewDisposeScope();
        torch.manual_seed(3);
        var p = new Projection(64, 8);
        var q = QuantizedWeight.Quantize(p.Weight, 4, 32, zeroPoint: true);
        var expectedWeight = q.Dequantize();
        p.Quantize(q);
        var x = torch.randn(2, 5, 64, generator: new torch.Generator(4)).transpose(0, 1);     // (5, 2, 64), not contiguous
        using var noGrad = torch.no_grad();
        var expected = nn.functional.linear(x, expectedWeight, p.Bias);
        Assert.True(p.call(x).allclose(expected, 1e-5, 1e-5));
    }

    [Fact]
    public void ToJson_Int4Config_WritesDocumentedKeys()
    {
        var c = new QuantizationConfig { Bits = 4, GroupSize = 64, ZeroPoint = true, IncludeHead = true };
        Assert.Equal("""{"quant_method":"sharpseek","format_version":1,"bits":4,"group_size":64,"zero_point":true,"include_head":true,"include_embeddings":false}""",
            c.ToJson().ToJsonString());
        Assert.Equal(c, QuantizationConfig.Parse(JsonNode.Parse(c.ToJson().ToJsonString())));
    }

    [Fact]
    public void Parse_MissingQuantMethod_ThrowsNamingTheKey()
    {
        var e = Assert.Throws<ConfigException>(() => QuantizationConfig.Parse(JsonNode.Parse("""{"format_version":1,"bits":8}""")));
        Assert.Equal("quantization_config.quant_method is missing", e.Message);
    }
}
