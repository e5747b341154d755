using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Cli;

public class OffloadCliTests
{
    private static string NewModel(TempDir dir, string arch = "gpt2", params string[] set)
    {
        string m = dir["m"];
        var args = new List<string> { "init", "--arch", arch, "--preset", "tiny", "--tokenizer", "byte", "--out", m };
        foreach (var s in set) args.AddRange(["--set", s]);
        var r = CliHarness.Run(args.ToArray());
        Assert.True(r.ExitCode == 0, r.Stderr);
        return m;
    }

    private static string[] Generate(string model, params string[] extra) =>
        ["generate", "--model", model, "--prompt", "Hello", "--prompt", "Ab", "--max-new-tokens", "8", .. extra];

    [Theory]
    [InlineData("--device-map", "0:cpu,1:disk")]
    [InlineData("--device-map", "0-1:disk")]
    [InlineData("--max-memory", "500KB")]                     // 82 KB resident + 200 KB per block: block 0 kept, block 1 streamed
    public void Generate_Gpt2Offloaded_PrintsSameTextAsResident(string flag, string value)
    {
        using var dir = new TempDir();
        string m = NewModel(dir, set: ["vocab_size=257", "n_positions=64"]);
        var resident = CliHarness.Run(Generate(m));
        var offloaded = CliHarness.Run(Generate(m, flag, value));
        Assert.True(offloaded.ExitCode == 0, offloaded.Stderr);
        Assert.Equal(resident.Stdout, offloaded.Stdout);
        Assert.Contains("--- prompt 1", resident.Stdout);
    }

    [Fact]
    public void Generate_DeepSeekFromJsonMapFile_PrintsSameTextAsResident()
    {
        using var dir = new TempDir();
        string m = NewModel(dir, "deepseek", "num_hidden_layers=3");
        File.WriteAllText(dir["map.json"], """{"0": "cpu", "1-2": "disk"}""");
        var resident = CliHarness.Run(Generate(m));
        var offloaded = CliHarness.Run(Generate(m, "--device-map", dir["map.json"]));
        Assert.True(offloaded.ExitCode == 0, offloaded.Stderr);
        Assert.Equal(resident.Stdout, offloaded.Stdout);
    }

    [Theory]
    [InlineData("--device-map", "0-1:cuda:0", "device 'cuda:0' does not exist here")]
    [InlineData("--device-map", "0-1:gpu", "unknown device 'gpu'")]
    [InlineData("--device-map", "0-1:cpu,1:disk", "layer 1 is mapped twice")]
    [InlineData("--device-map", "0:cpu", "layer 1 not mapped")]
    [InlineData("--device-map", "0-2:disk", "out of range: the model has 2 layers")]
    [InlineData("--device-map", "0-1", "is not RANGE:DEVICE")]
    [InlineData("--device-map", "missing.json", "device map file 'missing.json' not found")]
    [InlineData("--max-memory", "100KB", "smaller than the resident parts")]
    [InlineData("--max-memory", "lots", "not a number with a unit")]
    public void Generate_BadOffloadInput_ExitsWith2(string flag, string value, string message)
    {
        using var dir = new TempDir();
        string m = NewModel(dir, set: ["vocab_size=257", "n_positions=64"]);
        var before = Directory.GetFiles(m).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var r = CliHarness.Run(Generate(m, flag, value));
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains(message, r.Stderr);
        Assert.Equal("", r.Stdout);
        Assert.Equal(before, Directory.GetFiles(m).ToDictionary(f => f, File.GetLastWriteTimeUtc));   // nothing written
    }

    [Fact]
    public void Generate_QuantizedModelOffloaded_ExitsWith2()
    {
        using var dir = new TempDir();
        string m = NewModel(dir, set: ["vocab_size=257", "n_positions=64"]);
        var q = CliHarness.Run("quantize", "--model", m, "--out", dir["q"], "--bits", "8");
        Assert.True(q.ExitCode == 0, q.Stderr);
        var r = CliHarness.Run(Generate(dir["q"], "--device-map", "0:cpu,1:disk"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("a quantized model cannot be offloaded yet", r.Stderr);
    }

    [Fact]
    public void Generate_BothDeviceMapAndMaxMemory_ExitsWith2()
    {
        using var dir = new TempDir();
        string m = NewModel(dir, set: ["vocab_size=257", "n_positions=64"]);
        var r = CliHarness.Run(Generate(m, "--device-map", "0-1:disk", "--max-memory", "1GB"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("either --device-map or --max-memory", r.Stderr);
    }

    [Fact]
    public void Eval_DeviceMap_SameLossAsResident()
    {
        using var dir = new TempDir();
        string m = NewModel(dir, set: ["vocab_size=257", "n_positions=64"]);
        File.WriteAllText(dir["text.txt"], string.Concat(Enumerable.Repeat("To be, or not to be, that is the question. ", 8)));
        var resident = CliHarness.Run("eval", "--model", m, "--data", dir["text.txt"]);
        var offloaded = CliHarness.Run("eval", "--model", m, "--data", dir["text.txt"], "--device-map", "0-1:disk");
        Assert.True(offloaded.ExitCode == 0, offloaded.Stderr);
        Assert.StartsWith("loss ", resident.Stdout);
        Assert.Equal(resident.Stdout, offloaded.Stdout);
    }

    /// <summary>
    /// Peak RSS (VmHWM) of a <c>sharpseek generate</c> child, read from /proc while it runs: VmHWM only grows, and the last
    /// read comes after the text is printed, so it covers loading and every decode step.
    /// </summary>
    private static (long PeakKb, string Stdout) PeakRss(string[] args)
    {
        using var p = CliProcess.Start(args);
        long peak = 0;
        string status = $"/proc/{p.Id}/status";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:"));
                if (line is null) break;                                                    // a zombie: exited
                peak = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            }
            catch (IOException) { break; }                                                  // gone
            Thread.Sleep(5);
        }
        Assert.Equal(0, p.WaitForExit(TimeSpan.FromSeconds(60)));
        return (peak, p.Stdout);
    }

    [Fact]
    public void Generate_BudgetBelowModelSize_LowersPeakRss()
    {
        if (!OperatingSystem.IsLinux()) return;                                             // reads /proc
        using var dir = new TempDir();
        // 8 blocks of 7.1 MB (57 MB of weights), 0.5 MB resident: a 10 MB budget streams every block.
        string m = NewModel(dir, set: ["vocab_size=257", "n_positions=64", "n_embd=384", "n_layer=8", "n_head=6"]);
        string[] args = ["generate", "--model", m, "--prompt", "Hello", "--max-new-tokens", "8"];
        var (resident, text) = PeakRss(args);
        var (offloaded, offloadedText) = PeakRss([.. args, "--max-memory", "10MB"]);
        Assert.Equal(text, offloadedText);
        Assert.True(offloaded + 45_000 < resident, $"peak RSS {offloaded} kB offloaded vs {resident} kB resident");   // at least ~80% of the 57 MB saved
    }
}
