using SharpSeek.Models.Common;
using System.Text.Json;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tests.TestSupport;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Gpt2;

/// <summary>Parity with nanoGPT (fixtures computed by karpathy/nanoGPT on PyTorch 1.13): logits, per-layer tensors, greedy tokens.</summary>
[Trait("Category", "Reference")]
[Trait("Family", "gpt2")]
public class Gpt2ReferenceTests
{
    public static TheoryData<string> Cases => Fixtures.Cases("gpt2");

    private sealed record Case(Gpt2LMHeadModel Model, Tensor Ids, JsonElement Json, string Dir);

    private static Case Open(string name)
    {
        string dir = Fixtures.CaseDir("gpt2", name);
        var json = Fixtures.CaseJson("gpt2", name);
        var ids = json.GetProperty("inputs").GetProperty("input_ids").EnumerateArray()
            .Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        var t = torch.tensor(ids.SelectMany(r => r).ToArray(), [ids.Length, ids[0].Length]);
        return new Case(Gpt2LMHeadModel.FromPretrained(dir), t, json, dir);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_MatchReference(string caseName)
    {
        var c = Open(caseName);
        double atol = c.Json.GetProperty("tolerance").GetProperty("logits_atol").GetDouble();
        using var expected = SafeTensorsFile.Open(Path.Combine(c.Dir, "expected.safetensors"));
        using var _ = torch.no_grad();
        using var logits = c.Model.Logits(c.Ids);
        using var want = expected.Load("logits");
        Assert.Equal(want.shape, logits.shape);
        double maxDiff = (logits - want).abs().max().item<float>();
        Assert.True(maxDiff <= atol, $"{caseName}: max |logits − reference| = {maxDiff:E3} > atol {atol:E1}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DebugTensors_MatchReference(string caseName)
    {
        var c = Open(caseName);
        double atol = c.Json.GetProperty("tolerance").GetProperty("debug_tensors_atol").GetDouble();
        using var expected = SafeTensorsFile.Open(Path.Combine(c.Dir, "expected.safetensors"));
        using var _ = torch.no_grad();
        using var output = c.Model.call(new CausalLMInput(c.Ids) { OutputTrace = true });
        var debug = output.Trace!.Tensors;
        foreach (var prop in c.Json.GetProperty("outputs").GetProperty("debug_tensors").EnumerateObject())
        {
            Assert.True(debug.ContainsKey(prop.Name), $"{caseName}: model produced no debug tensor '{prop.Name}'");
            using var want = expected.Load(prop.Name);
            double maxDiff = (debug[prop.Name] - want).abs().max().item<float>();
            Assert.True(maxDiff <= atol, $"{caseName}: '{prop.Name}' differs by {maxDiff:E3} > {atol:E1} (first failing layer localises the bug)");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GreedyTokens_Uncached_MatchReference(string caseName)
    {
        var c = Open(caseName);
        var (wantTokens, n) = Greedy(c.Json);
        using var _ = torch.no_grad();
        for (int row = 0; row < wantTokens.Length; row++)
        {
            var seq = c.Ids[row].unsqueeze(0);
            var got = new List<long>();
            for (int i = 0; i < n; i++)
            {
                using var logits = c.Model.Logits(seq);
                long next = logits[0, -1].argmax().item<long>();
                got.Add(next);
                seq = torch.cat([seq, torch.tensor(new[] { next }).unsqueeze(0)], 1);
            }
            Assert.Equal(wantTokens[row], got.ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GreedyTokens_WithKvCache_MatchReference(string caseName)
    {
        var c = Open(caseName);
        var (wantTokens, n) = Greedy(c.Json);
        using var _ = torch.no_grad();
        long b = c.Ids.shape[0], t = c.Ids.shape[1];
        using var cache = c.Model.CreateKvCache((int)b, (int)t + n);
        var logits = c.Model.Logits(c.Ids, cache);                             // prefill (B, T, V)
        var got = new List<long>[b];
        for (int r = 0; r < b; r++) got[r] = new();
        for (int i = 0; i < n; i++)
        {
            var next = logits.select(1, -1).argmax(-1);                           // (B)
            for (int r = 0; r < b; r++) got[r].Add(next[r].item<long>());
            logits = c.Model.Logits(next.unsqueeze(1), cache);                    // (B, 1, V)
        }
        for (int r = 0; r < b; r++) Assert.Equal(wantTokens[r], got[r].ToArray());
    }

    private static (long[][] tokens, int n) Greedy(JsonElement json)
    {
        var g = json.GetProperty("outputs").GetProperty("greedy");
        var tokens = g.GetProperty("new_tokens").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        return (tokens, g.GetProperty("max_new_tokens").GetInt32());
    }
}
