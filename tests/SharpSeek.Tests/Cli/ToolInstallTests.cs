using System.Diagnostics;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Cli;

/// <summary>
/// The CLI as an installed dotnet tool: <c>dotnet pack</c> (of the Release build the test run made), <c>dotnet tool install
/// --tool-path</c> from that folder, then <c>sharpseek --help</c>, <c>init</c> and <c>generate</c> from the installed copy, which
/// needs the LibTorch native files and, on Debian 12, the patched libLibTorchSharp.so inside the package. About a minute
/// (a 200 MB package); exclude with <c>--filter "Category!=Tool"</c>.
/// </summary>
[Trait("Category", "Tool")]
public class ToolInstallTests
{
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SharpSeek.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("SharpSeek.sln not found above the test folder");
    }

    private static (int Code, string Stdout, string Stderr) Run(string file, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout)) { p.Kill(entireProcessTree: true); throw new TimeoutException($"{file} {string.Join(' ', args)} ran over {timeout}"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void PackInstallRun_InstalledTool_HelpInitGenerate()
    {
        using var tmp = new TempDir();
        string project = Path.Combine(RepoRoot(), "src", "SharpSeek.Cli", "SharpSeek.Cli.csproj");
        var pack = Run("dotnet", TimeSpan.FromMinutes(5), "pack", project, "-c", "Release", "--no-build", "-o", tmp["pkg"], "-v", "q", "-nologo");
        Assert.True(pack.Code == 0, pack.Stdout + pack.Stderr);
        Assert.Single(Directory.GetFiles(tmp["pkg"], "SharpSeek.Cli.*.nupkg"));

        var install = Run("dotnet", TimeSpan.FromMinutes(5), "tool", "install", "--tool-path", tmp["tool"], "--add-source", tmp["pkg"], "SharpSeek.Cli");
        Assert.True(install.Code == 0, install.Stdout + install.Stderr);
        string sharpseek = Path.Combine(tmp["tool"], OperatingSystem.IsWindows() ? "sharpseek.exe" : "sharpseek");
        Assert.True(File.Exists(sharpseek), $"no {sharpseek} after install");

        var help = Run(sharpseek, TimeSpan.FromMinutes(1), "--help");
        Assert.Equal(0, help.Code);
        Assert.Contains("generate", help.Stdout);

        string model = tmp["model"];
        var init = Run(sharpseek, TimeSpan.FromMinutes(2), "init", "--arch", "gpt2", "--preset", "tiny", "--tokenizer", "byte", "--set", "vocab_size=257", "--out", model);
        Assert.True(init.Code == 0, init.Stdout + init.Stderr);
        var generate = Run(sharpseek, TimeSpan.FromMinutes(2), "generate", "--model", model, "--prompt", "Hello", "--max-new-tokens", "5", "--seed", "1");
        Assert.True(generate.Code == 0, generate.Stdout + generate.Stderr);
        Assert.StartsWith("Hello", generate.Stdout.Trim());
        Assert.True(generate.Stdout.Trim().Length > "Hello".Length, generate.Stdout);
    }
}
