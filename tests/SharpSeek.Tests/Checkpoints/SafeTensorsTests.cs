using System.Text;
using SharpSeek.Checkpoints;
using SharpSeek.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Checkpoints;

public class SafeTensorsTests
{
    /// <summary>Writes a raw safetensors file from a header JSON string and a data block.</summary>
    private static string WriteRaw(TempDir dir, string headerJson, byte[] data, ulong? lengthOverride = null)
    {
        var header = Encoding.UTF8.GetBytes(headerJson);
        string path = dir["raw.safetensors"];
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes(lengthOverride ?? (ulong)header.Length));
        fs.Write(header);
        fs.Write(data);
        return path;
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Int16)]
    [InlineData(ScalarType.Int8)]
    [InlineData(ScalarType.Byte)]
    [InlineData(ScalarType.Bool)]
    public void SaveThenLoad_EveryDtype_RoundTripsExactly(ScalarType dtype)
    {
        using var dir = new TempDir();
        torch.manual_seed(1);
        var a = (torch.randn(3, 5) * 50).to(dtype);
        var b = (torch.randn(7) * 50).to(dtype);
        var scalar = torch.tensor(3.0).to(dtype);
        SafeTensors.Save(dir["m.safetensors"], new Dictionary<string, Tensor> { ["a"] = a, ["b.weight"] = b, ["s"] = scalar },
            new Dictionary<string, string> { ["format"] = "pt" });
        using var f = SafeTensorsFile.Open(dir["m.safetensors"]);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(a.shape, f.Load("a").shape);
        Assert.True(f.Load("a").equal(a).all().item<bool>());
        Assert.True(f.Load("b.weight").equal(b).all().item<bool>());
        Assert.Equal(Array.Empty<long>(), f.Load("s").shape);
        Assert.Equal(dtype, f.Load("a").dtype);
    }

    [Fact]
    public void Save_HeaderIsPaddedToMultipleOf8()
    {
        using var dir = new TempDir();
        SafeTensors.Save(dir["m.safetensors"], new Dictionary<string, Tensor> { ["x"] = torch.ones(3) });
        var bytes = File.ReadAllBytes(dir["m.safetensors"]);
        ulong n = BitConverter.ToUInt64(bytes, 0);
        Assert.Equal(0UL, n % 8);
        Assert.Equal(8 + (long)n + 12, bytes.Length);
    }

    [Fact]
    public void Open_ReferenceFixture_ReadsAllTensorsWithHeaderShapes()
    {
        string path = Path.Combine(Fixtures.CaseDir("gpt2", "gpt2_l2_h2_e64_v512"), "model.safetensors");
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(new long[] { 512, 64 }, f.Tensors["wte.weight"].Shape);
        Assert.Equal(new long[] { 512, 64 }, f.Load("wte.weight").shape);
    }

    [Fact]
    public void Open_TruncatedLengthPrefix_ThrowsNamingFile()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir["t.safetensors"], [1, 2, 3]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(dir["t.safetensors"]));
        Assert.Contains("t.safetensors", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Open_HeaderLongerThanFile_Throws()
    {
        using var dir = new TempDir();
        string p = WriteRaw(dir, "{}", [], lengthOverride: 1000);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(p));
        Assert.Contains("past the end of the file", e.Message);
    }

    [Fact]
    public void Open_OversizedHeader_Throws()
    {
        using var dir = new TempDir();
        string p = WriteRaw(dir, "{}", [], lengthOverride: 1UL << 40);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(p));
        Assert.Contains("exceeds", e.Message);
    }

    [Fact]
    public void Open_InvalidJson_Throws()
    {
        using var dir = new TempDir();
        string p = WriteRaw(dir, "{\"a\": [", []);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(p));
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void Open_OffsetsPastDataBlock_ThrowsNamingTensor()
    {
        using var dir = new TempDir();
        string p = WriteRaw(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(p));
        Assert.Contains("'w'", e.Message);
        Assert.Contains("past the data block", e.Message);
    }

    [Fact]
    public void Open_OverlappingTensors_Throws()
    {
        using var dir = new TempDir();
        string p = WriteRaw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(p));
        Assert.Contains("overlap", e.Message);
    }

    [Fact]
    public void Open_ShapeNotMatchingByteCount_Throws()
    {
        using var dir = new TempDir();
        string p = WriteRaw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(p));
        Assert.Contains("= 12 bytes", e.Message);
    }

    [Fact]
    public void Open_DuplicateName_Throws()
    {
        using var dir = new TempDir();
        string p = WriteRaw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(p));
        Assert.Contains("twice", e.Message);
    }

    [Fact]
    public void Open_UnknownDtype_Throws()
    {
        using var dir = new TempDir();
        string p = WriteRaw(dir, "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", new byte[8]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensorsFile.Open(p));
        Assert.Contains("unsupported dtype 'F8_E4M3'", e.Message);
    }

    [Fact]
    public void CheckpointFolder_ShardedIndex_LoadsTensorsFromEachShard()
    {
        using var dir = new TempDir();
        SafeTensors.Save(dir["model-00001-of-00002.safetensors"], new Dictionary<string, Tensor> { ["a"] = torch.ones(2) });
        SafeTensors.Save(dir["model-00002-of-00002.safetensors"], new Dictionary<string, Tensor> { ["b"] = torch.zeros(3) });
        File.WriteAllText(dir[CheckpointFolder.IndexFile],
            "{\"metadata\":{},\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\"}}");
        using var f = CheckpointFolder.Open(dir.Path);
        Assert.Equal(new[] { "a", "b" }, f.Names.OrderBy(n => n).ToArray());
        Assert.Equal(3, f.Load("b").shape[0]);
    }

    [Fact]
    public void CheckpointFolder_IndexNamesMissingTensor_Throws()
    {
        using var dir = new TempDir();
        SafeTensors.Save(dir["s1.safetensors"], new Dictionary<string, Tensor> { ["a"] = torch.ones(2) });
        File.WriteAllText(dir[CheckpointFolder.IndexFile], "{\"weight_map\":{\"a\":\"s1.safetensors\",\"zzz\":\"s1.safetensors\"}}");
        var e = Assert.Throws<CheckpointException>(() => CheckpointFolder.Open(dir.Path));
        Assert.Contains("'zzz'", e.Message);
    }

    [Fact]
    public void CheckpointFolder_NoWeights_Throws()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<CheckpointException>(() => CheckpointFolder.Open(dir.Path));
        Assert.Contains("no model.safetensors", e.Message);
    }
}
