using System.Diagnostics;
using SharpSeek.Training;

namespace SharpSeek.Tests.Cli;

/// <summary>bench/alignment.sh's inputs: its training configs load, and the script parses.</summary>
public class AlignmentPipelineTests
{
    private static string RepoDir()
    {
        string dir = AppContext.BaseDirectory;
        while (!Directory.Exists(Path.Combine(dir, "configs", "alignment"))) dir = Path.GetDirectoryName(dir) ?? throw new DirectoryNotFoundException("configs/alignment");
        return dir;
    }

    [Fact]
    public void Load_AlignmentConfigs_AreValid()
    {
        var files = Directory.GetFiles(Path.Combine(RepoDir(), "configs", "alignment"), "*.json");
        Assert.Equal(["dpo.json", "ppo.json", "pretrain.json", "reward.json", "sft-lora.json", "sft.json"], files.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var f in files) TrainConfig.Load(f).Validate();
    }

    [Fact]
    public void AlignmentScript_BashSyntax_Parses()
    {
        using var p = Process.Start(new ProcessStartInfo("bash", ["-n", Path.Combine(RepoDir(), "bench", "alignment.sh")]) { RedirectStandardError = true })!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
    }
}
