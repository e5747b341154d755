using SharpSeek.Checkpoints.Gguf;

namespace SharpSeek.Tests.Checkpoints.Gguf;

public class GgufWriterTests
{
    [Fact]
    public void Write_OneF32Vector_MatchesHandLaidOutBytes()
    {
        var w = new GgufWriter();
        w.AddTensor("t", [2], GgufType.F32, () => [1f, 2f]);
        using var stream = new MemoryStream();

        w.Write(stream);

        var expected = new List<byte>();
        expected.AddRange("GGUF"u8.ToArray());
        expected.AddRange(BitConverter.GetBytes(3u));                      // version
        expected.AddRange(BitConverter.GetBytes(1ul));                     // tensor count
        expected.AddRange(BitConverter.GetBytes(1ul));                     // key/value count
        expected.AddRange(BitConverter.GetBytes(17ul));                    // "general.alignment"
        expected.AddRange("general.alignment"u8.ToArray());
        expected.AddRange(BitConverter.GetBytes(4u));                      // UINT32
        expected.AddRange(BitConverter.GetBytes(32u));
        expected.AddRange(BitConverter.GetBytes(1ul));                     // "t"
        expected.AddRange("t"u8.ToArray());
        expected.AddRange(BitConverter.GetBytes(1u));                      // n_dims
        expected.AddRange(BitConverter.GetBytes(2ul));                     // ne[0]
        expected.AddRange(BitConverter.GetBytes(0u));                      // GGML_TYPE_F32
        expected.AddRange(BitConverter.GetBytes(0ul));                     // offset in the data section
        Assert.Equal(90, expected.Count);
        expected.AddRange(new byte[6]);                                    // pad to 96
        expected.AddRange(BitConverter.GetBytes(1f));
        expected.AddRange(BitConverter.GetBytes(2f));
        expected.AddRange(new byte[24]);                                   // pad to 128
        Assert.Equal(expected.ToArray(), stream.ToArray());
    }

    [Fact]
    public void Write_MatrixAndStringArray_DimsReversedAndDataAligned()
    {
        var w = new GgufWriter();
        w.AddStringArray("tokenizer.ggml.tokens", ["a", "bc"]);
        w.AddTensor("m", [3, 32], GgufType.Q8_0, () => new float[96]);
        w.AddTensor("v", [3], GgufType.F32, () => [1f, 2f, 3f]);
        using var stream = new MemoryStream();

        w.Write(stream);
        var bytes = stream.ToArray();

        // header 24 + alignment kv 33 + tokens kv (8 + 21 key, type 4, elem type 4, count 8, 8+1, 8+2 = 64) = 121
        int info = 24 + 33 + 64;
        Assert.Equal(2u, BitConverter.ToUInt32(bytes, info + 9));               // after "m" (8 + 1 bytes): n_dims
        Assert.Equal(32ul, BitConverter.ToUInt64(bytes, info + 13));            // ne[0] = row length
        Assert.Equal(3ul, BitConverter.ToUInt64(bytes, info + 21));             // ne[1] = rows
        Assert.Equal(8u, BitConverter.ToUInt32(bytes, info + 29));              // GGML_TYPE_Q8_0
        Assert.Equal(0ul, BitConverter.ToUInt64(bytes, info + 33));
        // "v" follows: its offset is the q8_0 matrix's 3·34 = 102 bytes padded to 128.
        Assert.Equal(128ul, BitConverter.ToUInt64(bytes, info + 41 + 25));
        Assert.Equal(0, bytes.Length % GgufWriter.Alignment);
    }

    [Fact]
    public void AddTensor_QuantizedRowNotWholeBlocks_Throws()
    {
        var w = new GgufWriter();
        Assert.Throws<ArgumentException>(() => w.AddTensor("m", [2, 48], GgufType.Q4_0, () => new float[96]));
    }
}
