using SharpSeek.Checkpoints.Gguf;

namespace SharpSeek.Tests.Checkpoints.Gguf;

public class GgufBlocksTests
{
    [Fact]
    public void EncodeQ8_0_HandWorkedBlock_MatchesBytes()
    {
        // amax = 127/64 → d = 1/64 (fp16 0x2400), q = round(64·x) half away from zero: 127, −32, 1.5 → 2, −1.5 → −2, 0.25 → 0.
        var x = new float[32];
        x[0] = 127f / 64; x[1] = -0.5f; x[2] = 3f / 128; x[3] = -3f / 128; x[4] = 1f / 256;
        var block = new byte[GgufBlocks.Q8_0BlockBytes];

        GgufBlocks.EncodeQ8_0(x, block);

        var expected = new byte[34];
        expected[0] = 0x00; expected[1] = 0x24; expected[2] = 0x7F; expected[3] = 0xE0; expected[4] = 0x02; expected[5] = 0xFE;
        Assert.Equal(expected, block);
    }

    [Fact]
    public void EncodeQ4_0_NegativeMaxBlock_MatchesBytes()
    {
        // max-magnitude value −1 → d = −1/−8 = 0.125 (fp16 0x3000); q = min(15, ⌊8x + 8.5⌋): −1 → 0, 0.875 → 15, 1/16 → 9,
        // −1/16 → 8, 0.5 → 12, −0.5 → 4, 0 → 8. Byte j = q[j] | q[j+16] << 4.
        var x = new float[32];
        x[0] = -1f; x[1] = 0.875f; x[2] = 0.0625f; x[3] = -0.0625f; x[16] = 0.5f; x[17] = -0.5f;
        var block = new byte[GgufBlocks.Q4_0BlockBytes];

        GgufBlocks.EncodeQ4_0(x, block);

        var expected = Enumerable.Repeat((byte)0x88, 18).ToArray();
        expected[0] = 0x00; expected[1] = 0x30; expected[2] = 0xC0; expected[3] = 0x4F; expected[4] = 0x89; expected[5] = 0x88;
        Assert.Equal(expected, block);
    }

    [Fact]
    public void EncodeQ4_0_PositiveMaxBlock_NegativeScaleAndClampAt15()
    {
        // first max-magnitude value +1 → d = −0.125 (fp16 0xB000); −1 → ⌊8 + 8.5⌋ = 16 → clamped to 15; +1 → 0; 0 → 8.
        var x = new float[32];
        x[0] = 1f; x[1] = -1f;
        var block = new byte[GgufBlocks.Q4_0BlockBytes];

        GgufBlocks.EncodeQ4_0(x, block);

        var expected = Enumerable.Repeat((byte)0x88, 18).ToArray();
        expected[0] = 0x00; expected[1] = 0xB0; expected[2] = 0x80; expected[3] = 0x8F;
        Assert.Equal(expected, block);
    }

    [Fact]
    public void EncodeQ8_0_AllZeroBlock_ZeroScaleAndZeros()
    {
        var block = new byte[GgufBlocks.Q8_0BlockBytes];
        Array.Fill(block, (byte)0xAA);
        GgufBlocks.EncodeQ8_0(new float[32], block);
        Assert.All(block, b => Assert.Equal(0, b));
    }

    [Fact]
    public void EncodeF16_KnownValues_MatchIeeeHalfBytes()
    {
        var bytes = new byte[8];
        GgufBlocks.Encode(GgufType.F16, new[] { 1f, -2f, 65504f, 0.1f }, bytes);
        // 1 = 0x3C00, −2 = 0xC000, 65504 = 0x7BFF, 0.1 → 0x2E66 (round to nearest even), little-endian.
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x66, 0x2E }, bytes);
    }

    [Theory]
    [InlineData(GgufType.Q8_0, 1.0 / 254)]   // half a step of d = amax/127
    [InlineData(GgufType.Q4_0, 1.0 / 8)]     // one step of d = amax/8: q4_0 reaches only 7/8 of amax on the side opposite the max
    public void EncodeThenDecode_RandomRows_ErrorWithinStepBound(GgufType type, double boundOfAmax)
    {
        var rng = new Random(7);
        var x = Enumerable.Range(0, 128).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var bytes = new byte[GgufTypes.ByteCount(type, x.Length)];
        var y = new float[x.Length];

        GgufBlocks.Encode(type, x, bytes);
        GgufBlocks.Decode(type, bytes, y);

        for (int b = 0; b < x.Length / 32; b++)
        {
            double amax = x.Skip(32 * b).Take(32).Max(Math.Abs);
            for (int i = 32 * b; i < 32 * b + 32; i++) Assert.True(Math.Abs(x[i] - y[i]) <= amax * (boundOfAmax + 1.0 / 1024),   // + fp16 rounding of d: 127·d·2⁻¹¹ ≤ amax/1024
                 $"{type} element {i}: {x[i]} → {y[i]}");
        }
    }

    [Fact]
    public void Encode_Q8_0RowNotWholeBlocks_Throws()
    {
        var bytes = new byte[GgufTypes.ByteCount(GgufType.Q8_0, 32)];
        Assert.Throws<ArgumentException>(() => GgufBlocks.Encode(GgufType.Q8_0, new float[33], bytes));
    }
}
