using SharpSeek.Data;
using TorchSharp;

namespace SharpSeek.Tests.Data;

public class TokenDatasetTests
{
    /// <summary>A data folder whose train split is the char ids of "abcdefghij" × 20 (ids 0..9 repeating, 180 train tokens).</summary>
    private static string MakeData(TempDir dir, int repeats = 20)
    {
        string input = dir.File("corpus.txt", string.Concat(Enumerable.Repeat("abcdefghij", repeats)));
        string outDir = Path.Combine(dir.Path, "data");
        TokenDataPreparer.Prepare(new PrepareOptions { Input = input, OutDir = outDir }, new TestTokenizerFactory());
        return outDir;
    }

    [Fact]
    public void SampleBatch_Generator_YIsXShiftedByOne()
    {
        using var dir = new TempDir();
        using var ds = TokenDataset.Open(MakeData(dir));
        using var g = new torch.Generator(1337);
        var (x, y) = ds.Train.SampleBatch(4, 8, g);
        Assert.Equal(new long[] { 4, 8 }, x.shape);
        Assert.Equal(torch.int64, x.dtype);
        var xs = x.data<long>().ToArray();
        var ys = y.data<long>().ToArray();
        for (int i = 0; i < xs.Length; i++) Assert.Equal((xs[i] + 1) % 10, ys[i]);
    }

    [Fact]
    public void SampleBatch_Generator_UsesTorchRandintOffsetsLikeNanoGpt()
    {
        using var dir = new TempDir();
        using var ds = TokenDataset.Open(MakeData(dir));
        using var g1 = new torch.Generator(7);
        using var g2 = new torch.Generator(7);
        var (x, _) = ds.Train.SampleBatch(5, 16, g1);
        var ix = torch.randint(ds.Train.Length - 16, [5], dtype: torch.int64, generator: g2).data<long>().ToArray();
        for (int b = 0; b < 5; b++) Assert.Equal(ix[b] % 10, x[b, 0].item<long>());
    }

    [Fact]
    public void SampleBatch_BatchRngRestoredState_ResumesExactly()
    {
        using var dir = new TempDir();
        using var ds = TokenDataset.Open(MakeData(dir));
        var rng = new BatchRng(42);
        ds.Train.SampleBatch(3, 8, rng);
        string saved = System.Text.Json.JsonSerializer.Serialize(rng.State);
        var expected = ds.Train.SampleBatch(3, 8, rng).X.data<long>().ToArray();
        var resumed = new BatchRng(0) { State = System.Text.Json.JsonSerializer.Deserialize<BatchRngState>(saved)! };
        Assert.Equal(expected, ds.Train.SampleBatch(3, 8, resumed).X.data<long>().ToArray());
    }

    [Fact]
    public void BatchRng_NextLong_StaysInRangeAndHitsEveryValue()
    {
        var rng = new BatchRng(1);
        var seen = new int[7];
        for (int i = 0; i < 7000; i++) seen[rng.NextLong(7)]++;
        Assert.All(seen, n => Assert.InRange(n, 850, 1150));
    }

    [Fact]
    public void SampleBatch_CorpusShorterThanBlock_ThrowsDataExceptionNamingSizes()
    {
        using var dir = new TempDir();
        using var ds = TokenDataset.Open(MakeData(dir));
        var e = Assert.Throws<DataException>(() => ds.Val.SampleBatch(2, 64, new BatchRng(1)));   // val has 20 tokens
        Assert.Contains("20 tokens", e.Message);
        Assert.Contains("block size 64", e.Message);
    }

    [Fact]
    public void SequentialBatches_CoverNonOverlappingWindowsInOrder()
    {
        using var dir = new TempDir();
        using var ds = TokenDataset.Open(MakeData(dir));                       // val: 20 tokens, block 6 → 3 windows at 0, 6, 12
        var batches = ds.Val.SequentialBatches(2, 6).ToList();
        Assert.Equal(3, ds.Val.SequentialWindows(6));
        Assert.Equal([2L, 1L], batches.Select(b => b.X.shape[0]));
        Assert.Equal(new long[] { 0, 6, 2 }, new[] { batches[0].X[0, 0].item<long>(), batches[0].X[1, 0].item<long>(), batches[1].X[0, 0].item<long>() });
        Assert.Equal(ds.Val[18], batches[1].Y[0, 5].item<long>());
    }

    [Fact]
    public void SequentialBatches_StartWindow_ResumesMidPass()
    {
        using var dir = new TempDir();
        using var ds = TokenDataset.Open(MakeData(dir));
        var full = ds.Train.SequentialBatches(3, 5).SelectMany(b => b.X.data<long>().ToArray()).ToArray();
        var tail = ds.Train.SequentialBatches(3, 5, startWindow: 3).SelectMany(b => b.X.data<long>().ToArray()).ToArray();
        Assert.Equal(full[15..], tail);
    }

    [Fact]
    public void Open_MissingMeta_ThrowsDataException()
    {
        using var dir = new TempDir();
        string data = MakeData(dir);
        File.Delete(Path.Combine(data, "meta.json"));
        var e = Assert.Throws<DataException>(() => TokenDataset.Open(data));
        Assert.Contains("meta.json", e.Message);
    }

    [Fact]
    public void Open_CorruptMeta_ThrowsDataException()
    {
        using var dir = new TempDir();
        string data = MakeData(dir);
        File.WriteAllText(Path.Combine(data, "meta.json"), "{\"format\": \"sharpseek-tokens-v1\", \"dtype\": ");
        Assert.Throws<DataException>(() => TokenDataset.Open(data));
    }

    [Fact]
    public void Open_UnknownDtype_ThrowsDataException()
    {
        using var dir = new TempDir();
        string data = MakeData(dir);
        string meta = File.ReadAllText(Path.Combine(data, "meta.json")).Replace("\"uint16\"", "\"int8\"");
        File.WriteAllText(Path.Combine(data, "meta.json"), meta);
        var e = Assert.Throws<DataException>(() => TokenDataset.Open(data));
        Assert.Contains("int8", e.Message);
    }

    [Fact]
    public void Open_BinSizeNotMatchingMeta_ThrowsDataException()
    {
        using var dir = new TempDir();
        string data = MakeData(dir);
        using (var fs = new FileStream(Path.Combine(data, "train.bin"), FileMode.Open)) fs.SetLength(fs.Length - 2);
        var e = Assert.Throws<DataException>(() => TokenDataset.Open(data));
        Assert.Contains("train.bin", e.Message);
    }

    [Fact]
    public void Indexer_ReadsUInt32Tokens()
    {
        using var dir = new TempDir();
        string input = dir.File("corpus.txt", "abcdefghij");
        string outDir = Path.Combine(dir.Path, "data");
        TokenDataPreparer.Prepare(new PrepareOptions { Input = input, OutDir = outDir, Tokenizer = "wide" }, new TestTokenizerFactory());
        using var ds = TokenDataset.Open(outDir);
        Assert.Equal(65_536 + 'a' % 1000, ds.Train[0]);
        Assert.Equal(65_536 + 'j' % 1000, ds.Val[0]);
    }
}
