using System.Security.Cryptography;
using SharpSeek.Distributed;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Distributed;

public class DataFingerprintTests
{
    [Fact]
    public void SampleOffsets_LongFile_FirstLastAndEvenlyBetween() =>
        Assert.Equal([0L, 45L, 90L], DataFingerprint.SampleOffsets(length: 100, blocks: 3, blockBytes: 10));   // last = 100 − 10; 90/2 = 45

    [Fact]
    public void SampleOffsets_RoundsDown() =>
        Assert.Equal([0L, 30L, 60L, 91L], DataFingerprint.SampleOffsets(length: 101, blocks: 4, blockBytes: 10));   // 91·i/3 = 0, 30.3, 60.7, 91

    [Fact]
    public void SampleOffsets_FileShorterThanTheBlocks_ConsecutiveBlocks() =>
        Assert.Equal([0L, 10L, 20L], DataFingerprint.SampleOffsets(length: 25, blocks: 4, blockBytes: 10));

    [Fact]
    public void Of_SmallFile_IsItsSizeAndSha256()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["x.bin"], "abc");
        Assert.Equal("x.bin: 3 bytes, sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n", DataFingerprint.Of([tmp["x.bin"]]));
    }

    [Fact]
    public void Of_MissingFile_SaysMissing()
    {
        using var tmp = new TempDir();
        Assert.Equal("val.bin: missing\n", DataFingerprint.Of([tmp["val.bin"]]));
    }

    [Fact]
    public void Of_SameContentsInOtherFolders_IsEqual()
    {
        using var tmp = new TempDir();
        foreach (var d in new[] { "a", "b" }) { Directory.CreateDirectory(tmp[d]); File.WriteAllBytes(Path.Combine(tmp[d], "train.bin"), Bytes(1000)); }
        Assert.Equal(DataFingerprint.Of([Path.Combine(tmp["a"], "train.bin")]), DataFingerprint.Of([Path.Combine(tmp["b"], "train.bin")]));
    }

    [Fact]
    public void Of_LargeFile_IsTheSha256OfTheSampledBlocks()
    {
        using var tmp = new TempDir();
        byte[] data = Bytes(1000);
        File.WriteAllBytes(tmp["train.bin"], data);
        // blocks of 10 at 0, 495, 990 (last = 990, 990/2 = 495)
        string expected = Convert.ToHexStringLower(SHA256.HashData([.. data[0..10], .. data[495..505], .. data[990..1000]]));
        Assert.Equal($"train.bin: 1000 bytes, sha256 of 3 sampled blocks {expected}\n", Of(tmp["train.bin"]));
    }

    [Fact]
    public void Of_LargeFile_ByteChangedInASampledBlock_Differs()
    {
        using var tmp = new TempDir();
        byte[] data = Bytes(1000);
        File.WriteAllBytes(tmp["train.bin"], data);
        string before = Of(tmp["train.bin"]);
        data[500] ^= 1;                                                                  // inside the block at 495
        File.WriteAllBytes(tmp["train.bin"], data);
        Assert.NotEqual(before, Of(tmp["train.bin"]));
    }

    [Fact]
    public void Of_LargeFile_ByteChangedBetweenTheSamples_IsNotSeen()
    {
        // the documented price of sampling: an edit that keeps the size and misses every block goes unnoticed
        using var tmp = new TempDir();
        byte[] data = Bytes(1000);
        File.WriteAllBytes(tmp["train.bin"], data);
        string before = Of(tmp["train.bin"]);
        data[200] ^= 1;
        File.WriteAllBytes(tmp["train.bin"], data);
        Assert.Equal(before, Of(tmp["train.bin"]));
    }

    [Fact]
    public void TokenDataFiles_DataDir_MetaTrainVal() =>
        Assert.Equal([Path.Combine("d", "meta.json"), Path.Combine("d", "train.bin"), Path.Combine("d", "val.bin")], DataFingerprint.TokenDataFiles("d"));

    /// <summary>Fingerprint with a 100-byte whole-hash limit and 3 blocks of 10 bytes, so a 1,000-byte file is sampled.</summary>
    private static string Of(string path) => DataFingerprint.Of([path], fullHashLimit: 100, blocks: 3, blockBytes: 10);

    private static byte[] Bytes(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 31 % 251)).ToArray();

    [Fact]
    public void ConfigDataFiles_EverySectionsFiles_InAFixedOrder()
    {
        var c = new SharpSeek.Training.TrainConfig().WithOverrides([
            "data_dir=d", "sft.data=s.jsonl", "preference.data=p.jsonl", "preference.val_data=pv.jsonl", "ppo.prompts=q.jsonl",
            "grpo.prompts=g.jsonl", "grpo.eval_prompts=ge.jsonl"]);
        Assert.Equal(["d/meta.json", "d/train.bin", "d/val.bin", "s.jsonl", "p.jsonl", "pv.jsonl", "q.jsonl", "g.jsonl", "ge.jsonl"],
                     DataFingerprint.ConfigDataFiles(c));
    }

    [Fact]
    public void ConfigDataFiles_NoDataNamed_Empty() => Assert.Empty(DataFingerprint.ConfigDataFiles(new SharpSeek.Training.TrainConfig()));
}
