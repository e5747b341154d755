using SharpSeek.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Quantization;

public class QuantizedWeightTests
{
    [Fact]
    public void Quantize_Int8HandRow_ScaleIsMaxOver127AndValuesRound()
    {
        // Row [1.27, −0.635, 0.01]: scale = 1.27 / 127 = 0.01; q = [127, −63.5 → −64 (round half to even gives −64), 1].
        using var w = tensor(new float[] { 1.27f, -0.635f, 0.01f }).view(1, 3);
        using var q = QuantizedWeight.Quantize(w, bits: 8);
        Assert.Equal(0.01f, q.Scales[0, 0].item<float>(), 6);
        Assert.Equal(new sbyte[] { 127, -64, 1 }, q.Data.data<sbyte>().ToArray());
    }

    [Fact]
    public void Quantize_Int4SymmetricHandGroup_UsesGgmlScaleAndNibbleOrder()
    {
        // One group of 32: column c holds c − 16 (−16 … 15), so m = −16, scale = m / −8 = 2, u = round(w / 2) + 8.
        var values = Enumerable.Range(0, 32).Select(c => (float)(c - 16)).ToArray();
        using var w = tensor(values).view(1, 32);
        using var q = QuantizedWeight.Quantize(w, bits: 4, groupSize: 32);
        Assert.Equal(2f, q.Scales[0, 0].item<float>());
        var bytes = q.Data.data<byte>().ToArray();
        Assert.Equal(16, bytes.Length);
        // byte 0: column 0 (−16 → u = 0) low, column 16 (0 → u = 8) high = 0x80; byte 15: column 15 (−1 → −0.5 → round to even 0 → u 8), column 31 (15 → 7.5 → 8, clamped to 7 → u 15) = 0xF8.
        Assert.Equal(0x80, bytes[0]);
        Assert.Equal(0xF8, bytes[15]);
    }

    [Theory]
    [InlineData(8, 0, false)]
    [InlineData(4, 32, false)]
    [InlineData(4, 64, true)]
    [InlineData(4, 128, false)]
    public void Dequantize_RandomWeight_ErrorWithinHalfAStep(int bits, int group, bool zeroPoint)
    {
        using var scope = NewDisposeScope();
        var gen = new torch.Generator(7);
        var w = randn(new long[] { 24, 256 }, generator: gen);
        using var q = QuantizedWeight.Quantize(w, bits, group, zeroPoint);
        var back = q.Dequantize();
        // Per element |w − ŵ| ≤ scale / 2 (+ rounding slack), scale broadcast over its group; ggml's symmetric int4 clamps
        // values on the far side of the largest magnitude to u = 15, within one step.
        var step = bits == 8 ? q.Scales.expand(24, 256) : q.Scales.repeat_interleave(group, 1);
        float allowed = bits == 4 && !zeroPoint ? 1f : 0.5f;
        var excess = ((w - back).abs() - step.abs() * allowed - 1e-6f).max().item<float>();
        Assert.True(excess <= 0, $"error exceeds {allowed} step by {excess}");
        Assert.Equal(bits == 8 ? 24 * 256 + 24 * 4 : 24 * 128 + 24 * (256 / group) * 4 + (zeroPoint ? 24 * (256 / group) : 0), q.StorageBytes);
    }

    [Fact]
    public void Unpack4_OfPack4_IsIdentity()
    {
        using var scope = NewDisposeScope();
        var u = randint(0, 16, new long[] { 3, 64 }, generator: new torch.Generator(1)).to(ScalarType.Byte);
        Assert.True((QuantizedWeight.Unpack4(QuantizedWeight.Pack4(u)) == u).all().item<bool>());
    }

    [Fact]
    public void Constructor_MisShapedScales_ThrowsCheckpointException()
    {
        using var scope = NewDisposeScope();
        var data = zeros(new long[] { 4, 32 }, ScalarType.Byte);
        var scales = ones(new long[] { 4, 3 });
        var e = Assert.Throws<CheckpointException>(() => new QuantizedWeight(4, 32, data, scales, null, "h.0.mlp.c_fc.weight"));
        Assert.Contains("expected [4, 2]", e.Message);
    }

    [Fact]
    public void Quantize_GroupNotDividingColumns_ThrowsConfigException()
    {
        using var w = zeros(4, 96);
        var e = Assert.Throws<ConfigException>(() => QuantizedWeight.Quantize(w, 4, 64));
        Assert.Contains("not divisible by the group size 64", e.Message);
    }
}
