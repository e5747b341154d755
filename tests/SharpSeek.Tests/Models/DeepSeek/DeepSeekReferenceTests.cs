using SharpSeek.Models.Common;
using SharpSeek.Checkpoints;
using SharpSeek.Models.DeepSeek;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.DeepSeek;

/// <summary>Parity with deepseek-ai/DeepSeek-V3 inference/model.py on every case under &lt;root&gt;/deepseek_v3, both MLA paths.</summary>
[Trait("Category", "Reference")]
[Trait("Family", "deepseek_v3")]
public sealed class DeepSeekReferenceTests
{
    private readonly ITestOutputHelper _out;
    public DeepSeekReferenceTests(ITestOutputHelper output) { _out = output; }

    public static IEnumerable<object[]> Cases() =>
        DeepSeekFixtures.CaseNames.SelectMany(c => new[] { new object[] { c, AttentionImpl.Naive }, new object[] { c, AttentionImpl.Absorbed } });

    private static DeepSeekV3ForCausalLM Load(string caseName, AttentionImpl impl)
    {
        var model = DeepSeekV3ForCausalLM.FromPretrained(DeepSeekFixtures.CaseDir(caseName));
        model.AttentionImpl = impl;
        return model;
    }

    private static Tensor Expected(string caseName, string tensor)
    {
        using var f = SafeTensorsFile.Open(Path.Combine(DeepSeekFixtures.CaseDir(caseName), "expected.safetensors"));
        return f.Load(tensor);
    }

    private static double MaxAbsDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_ReferenceCase_WithinAtol(string caseName, AttentionImpl impl)
    {
        using var scope = torch.NewDisposeScope();
        using var c = DeepSeekFixtures.CaseJson(caseName);
        using var model = Load(caseName, impl);
        using var _ = torch.no_grad();
        var logits = model.Logits(torch.tensor(DeepSeekFixtures.InputIds(c).SelectMany(r => r).ToArray()).view(DeepSeekFixtures.InputIds(c).Length, -1));
        var expected = Expected(caseName, "logits");
        Assert.Equal(expected.shape, logits.shape);
        double diff = MaxAbsDiff(logits, expected);
        _out.WriteLine($"{caseName} {impl}: max |Δlogits| = {diff:E3}");
        Assert.True(diff <= DeepSeekFixtures.Tolerance(c, "logits_atol"), $"max |Δlogits| {diff:E3} exceeds atol");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DebugTensors_ReferenceCase_WithinAtol(string caseName, AttentionImpl impl)
    {
        using var scope = torch.NewDisposeScope();
        using var c = DeepSeekFixtures.CaseJson(caseName);
        using var model = Load(caseName, impl);
        using var _ = torch.no_grad();
        var ids = DeepSeekFixtures.InputIds(c);
        using var output = model.call(new CausalLMInput(torch.tensor(ids.SelectMany(r => r).ToArray()).view(ids.Length, -1)) { OutputTrace = true });
        var trace = output.Trace!;
        double atol = DeepSeekFixtures.Tolerance(c, "debug_tensors_atol");
        var names = c.RootElement.GetProperty("outputs").GetProperty("debug_tensors").EnumerateObject().Select(p => p.Name).ToList();
        Assert.NotEmpty(names);
        foreach (var name in names)
        {
            var expected = Expected(caseName, name);
            Assert.True(trace.Tensors.ContainsKey(name), $"model produced no '{name}'");
            var actual = trace.Tensors[name];
            if (name.StartsWith("router_weights.", StringComparison.Ordinal))
            {
                // Pair weights by expert id: sort both by the chosen expert index.
                int layer = int.Parse(name["router_weights.".Length..]);
                var expIdx = ExpectedRouting(c, layer);
                actual = actual.gather(-1, trace.RoutingIndices[layer].argsort(-1));
                expected = expected.gather(-1, expIdx.argsort(-1));
            }
            Assert.Equal(expected.shape, actual.shape);
            double diff = MaxAbsDiff(actual, expected);
            _out.WriteLine($"{caseName} {impl}: {name} max |Δ| = {diff:E3}");
            Assert.True(diff <= atol, $"{name}: max |Δ| {diff:E3} exceeds atol {atol}");
        }
    }

    private static Tensor ExpectedRouting(System.Text.Json.JsonDocument c, int layer)
    {
        var rows = c.RootElement.GetProperty("outputs").GetProperty("routing").GetProperty("layers").GetProperty(layer.ToString()).GetProperty("indices");
        var flat = rows.EnumerateArray().SelectMany(r => r.EnumerateArray()).SelectMany(t => t.EnumerateArray()).Select(x => x.GetInt64()).ToArray();
        int b = rows.GetArrayLength(), t = rows[0].GetArrayLength();
        return torch.tensor(flat).view(b, t, -1);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Routing_ReferenceCase_SameExpertSets(string caseName, AttentionImpl impl)
    {
        using var scope = torch.NewDisposeScope();
        using var c = DeepSeekFixtures.CaseJson(caseName);
        using var model = Load(caseName, impl);
        using var _ = torch.no_grad();
        var ids = DeepSeekFixtures.InputIds(c);
        using var output = model.call(new CausalLMInput(torch.tensor(ids.SelectMany(r => r).ToArray()).view(ids.Length, -1)) { OutputTrace = true });
        var trace = output.Trace!;
        var layers = c.RootElement.GetProperty("outputs").GetProperty("routing").GetProperty("layers").EnumerateObject().Select(p => int.Parse(p.Name)).ToList();
        Assert.NotEmpty(layers);
        Assert.Equal(layers.Order(), trace.RoutingIndices.Keys.Order());
        foreach (int layer in layers)
        {
            var expected = ExpectedRouting(c, layer).sort(-1).Values;
            var actual = trace.RoutingIndices[layer].sort(-1).Values;
            long mismatched = expected.ne(actual).any(-1).sum().item<long>();
            Assert.True(mismatched == 0, $"layer {layer}: {mismatched} tokens routed to a different expert set");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GreedyTokens_ReferenceCase_ExactUncached(string caseName, AttentionImpl impl)
    {
        using var c = DeepSeekFixtures.CaseJson(caseName);
        using var model = Load(caseName, impl);
        var ids = DeepSeekFixtures.InputIds(c);
        var expected = DeepSeekFixtures.GreedyTokens(c);
        var actual = DeepSeekGreedy.UncachedBatch(model, ids, expected[0].Length);
        for (int row = 0; row < ids.Length; row++) Assert.Equal(expected[row], actual[row]);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void GreedyTokens_ReferenceCase_CachedEqualsUncached(string caseName, AttentionImpl impl)
    {
        using var c = DeepSeekFixtures.CaseJson(caseName);
        using var model = Load(caseName, impl);
        var ids = DeepSeekFixtures.InputIds(c);
        var expected = DeepSeekFixtures.GreedyTokens(c);
        var cached = DeepSeekGreedy.CachedBatch(model, ids, expected[0].Length);
        for (int row = 0; row < ids.Length; row++) Assert.Equal(expected[row], cached[row]);
    }
}
