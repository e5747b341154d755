using System.Text;

namespace SharpSeek.Checkpoints;

/// <summary>Temp-file-and-rename writes, so that an interrupted or failed step never leaves a partial file behind.</summary>
public static class AtomicFiles
{
    /// <summary>Strict UTF-8 without BOM: invalid bytes throw instead of turning into U+FFFD.</summary>
    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/> into a temporary sibling, then renames it into place.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes UTF-8 text (no BOM) atomically.</summary>
    public static void WriteText(string path, string text) =>
        Write(path, s => { var bytes = StrictUtf8.GetBytes(text); s.Write(bytes); });

    /// <summary>
    /// Fills a fresh temporary folder next to <paramref name="outDir"/> through <paramref name="fill"/>, then moves it into place:
    /// a rename of the whole folder when <paramref name="outDir"/> does not exist yet, otherwise file by file with
    /// <paramref name="lastFile"/> (the file readers check first, e.g. meta.json) moved last.
    /// </summary>
    public static void WriteFolder(string outDir, Action<string> fill, string? lastFile = null)
    {
        string full = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        string tmp = Path.Combine(parent, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        try
        {
            fill(tmp);
            if (!Directory.Exists(full))
            {
                Directory.Move(tmp, full);
                return;
            }
            var files = Directory.GetFiles(tmp).OrderBy(f => Path.GetFileName(f) == lastFile ? 1 : 0).ThenBy(f => f, StringComparer.Ordinal);
            foreach (var f in files) File.Move(f, Path.Combine(full, Path.GetFileName(f)), overwrite: true);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }
}
