using System.Text.Json.Nodes;
using SharpSeek.Tests.Checkpoints.Gguf;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Cli;

public class ExportGgufCliTests
{
    [Fact]
    public void ExportGguf_TinyGpt2AtQ4_0_WritesGgufFileAndReports()
    {
        using var dir = new TempDir();
        string model = GgufTestModels.Create(dir["m"], GgufTestModels.Gpt2);

        var r = CliHarness.Run("export", "gguf", "--model", model, "--out", dir["out/m.gguf"], "--type", "q4_0");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("gpt2, q4_0, 28 tensors", r.Stdout);
        Assert.Equal("GGUF"u8.ToArray(), File.ReadAllBytes(dir["out/m.gguf"]).Take(4).ToArray());
    }

    [Fact]
    public void ExportGguf_ConfigLlamaCppCannotExpress_ExitsWith2AndKeepsExistingFile()
    {
        using var dir = new TempDir();
        var config = JsonNode.Parse(GgufTestModels.DeepSeekMoe)!.AsObject();
        config["n_shared_experts"] = 0;
        string model = GgufTestModels.Create(dir["m"], config.ToJsonString());
        File.WriteAllText(dir["m.gguf"], "precious");

        var r = CliHarness.Run("export", "gguf", "--model", model, "--out", dir["m.gguf"]);

        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Contains("n_shared_experts 0 cannot be expressed: llama.cpp's deepseek2 requires shared-expert tensors", r.Stderr);
        Assert.Equal("precious", File.ReadAllText(dir["m.gguf"]));
        Assert.Equal([dir["m.gguf"]], Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void ExportGguf_UnknownType_ExitsWith2()
    {
        using var dir = new TempDir();
        string model = GgufTestModels.Create(dir["m"], GgufTestModels.Gpt2);

        var r = CliHarness.Run("export", "gguf", "--model", model, "--out", dir["m.gguf"], "--type", "q5_1");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error: GGUF type 'q5_1' is not supported (use f32, f16, q8_0 or q4_0)", r.Stderr);
        Assert.False(File.Exists(dir["m.gguf"]));
    }

    [Fact]
    public void ExportGguf_MissingModelFolder_ExitsWith2()
    {
        using var dir = new TempDir();
        var r = CliHarness.Run("export", "gguf", "--model", dir["nope"], "--out", dir["m.gguf"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("model folder not found", r.Stderr);
    }
}
