using System.Text.Json.Nodes;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Cli;

/// <summary><c>inspect</c> checks config.json against the checkpoint header as strictly as loading does (issue 9 §1).</summary>
public class InspectValidationCliTests
{
    /// <summary>A tiny GPT-2 folder from <c>init</c> whose config.json is then edited by <paramref name="edit"/>.</summary>
    private static string EditedModel(TempDir dir, Action<JsonObject> edit)
    {
        Assert.Equal(0, CliHarness.Run("init", "--preset", "tiny", "--set", "vocab_size=100", "--out", dir["m"]).ExitCode);
        string path = Path.Combine(dir["m"], "config.json");
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
        return dir["m"];
    }

    [Theory]
    [InlineData("n_layer", "-1", "n_layer must be positive (got -1)")]
    [InlineData("n_head", "3", "must be a positive multiple of n_head (3)")]
    [InlineData("activation_function", "\"swishy\"", "activation_function 'swishy' is not supported")]
    [InlineData("vocab_size", "101", "tensor 'transformer.wte.weight' has shape [100, 64], config.json implies [101, 64]")]
    public void Inspect_ConfigInconsistentWithCheckpoint_ExitsWith2(string key, string value, string message)
    {
        using var dir = new TempDir();
        string model = EditedModel(dir, j => j[key] = JsonNode.Parse(value));
        var r = CliHarness.Run("inspect", "--model", model);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void Inspect_NEmbdMissing_ExitsWith2NamingTheShapeMismatch()
    {
        using var dir = new TempDir();
        string model = EditedModel(dir, j => j.Remove("n_embd"));                    // falls back to GPT-2's 768
        var r = CliHarness.Run("inspect", "--model", model);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("tensor 'transformer.wte.weight' has shape [100, 64], config.json implies [100, 768]", r.Stderr);
    }

    [Fact]
    public void ModelInfoRead_DeepSeekExpertCountChanged_ThrowsCheckpointException()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliHarness.Run("init", "--arch", "deepseek", "--preset", "tiny", "--out", dir["m"]).ExitCode);
        string path = Path.Combine(dir["m"], "config.json");
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(path))!;
        json["n_routed_experts"] = json["n_routed_experts"]!.GetValue<int>() * 2;
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => SharpSeek.Models.ModelInfo.Read(dir["m"]));
        Assert.Contains("checkpoint lacks", e.Message);
    }
}
