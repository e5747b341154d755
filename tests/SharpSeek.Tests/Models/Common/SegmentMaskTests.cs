using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Common;

/// <summary>Packed samples (<see cref="CausalLMInput.SegmentIds"/>): block-diagonal attention and positions restarting per sample.</summary>
public class SegmentMaskTests
{
    [Fact]
    public void Build_SegmentIds_BlockDiagonalCausalMaskAndRestartedPositions()
    {
        using var seg = tensor(new long[] { 0, 0, 1, 1, 1, -1 }, [1, 6]);
        var (positions, allowed) = AttentionMasks.Build(1, 6, 0, null, null, CPU, seg);
        Assert.Equal(new long[] { 0, 1, 0, 1, 2, 0 }, positions.data<long>().ToArray());
        bool[,] expected =
        {
            { true, false, false, false, false, false },
            { true, true, false, false, false, false },
            { false, false, true, false, false, false },
            { false, false, true, true, false, false },
            { false, false, true, true, true, false },
            { false, false, false, false, false, true },
        };
        Assert.Equal([1L, 1, 6, 6], allowed.shape);
        for (int q = 0; q < 6; q++)
            for (int k = 0; k < 6; k++) Assert.True(expected[q, k] == allowed[0, 0, q, k].item<bool>(), $"query {q}, key {k}");
    }

    [Fact]
    public void SegmentPositions_RepeatedIdAfterAnother_StartsANewSegment()
    {
        using var seg = tensor(new long[] { 0, 0, 0, 1, 0, 0, 7, 7, 7, 7, 2, 2 }, [2, 6]);
        using var positions = AttentionMasks.SegmentPositions(seg);
        Assert.Equal(new long[] { 0, 1, 2, 0, 0, 1, 0, 1, 2, 3, 0, 1 }, positions.data<long>().ToArray());
    }

    private static CausalLM Gpt2()
    {
        manual_seed(11);
        var model = new Gpt2LMHeadModel(new Gpt2Config { VocabSize = 40, NPositions = 32, NEmbd = 32, NLayer = 2, NHead = 2 });
        model.eval();
        return model;
    }

    private static CausalLM DeepSeek()
    {
        var json = ModelFactory.ResolveConfigJson("deepseek", "tiny", new Dictionary<string, System.Text.Json.Nodes.JsonNode?>
        {
            ["vocab_size"] = 40, ["num_hidden_layers"] = 2, ["hidden_size"] = 64, ["intermediate_size"] = 96, ["moe_intermediate_size"] = 32,
        });
        var model = ModelFactory.Create(json, seed: 12);
        model.eval();
        return model;
    }

    public static TheoryData<string> Families => new() { "gpt2", "deepseek" };

    /// <summary>Three samples packed into one row of 20 (3 padding) give each sample exactly the logits it gets alone.</summary>
    [Theory]
    [MemberData(nameof(Families))]
    public void Forward_PackedRow_SameLogitsAsEachSampleAlone(string family)
    {
        using var model = family == "gpt2" ? Gpt2() : DeepSeek();
        using var scope = NewDisposeScope();
        int[] lengths = [5, 7, 5];
        var rng = new Random(3);
        var samples = lengths.Select(n => Enumerable.Range(0, n).Select(_ => (long)rng.Next(40)).ToArray()).ToList();
        var ids = samples.SelectMany(s => s).Concat(Enumerable.Repeat(0L, 3)).ToArray();
        var segs = lengths.SelectMany((n, i) => Enumerable.Repeat((long)i, n)).Concat(Enumerable.Repeat(-1L, 3)).ToArray();
        Tensor packed;
        using (no_grad())
        using (var output = model.call(new CausalLMInput(tensor(ids, [1, 20])) { SegmentIds = tensor(segs, [1, 20]) }))
            packed = output.TakeLogits();                                                   // (1, 20, V)
        int start = 0;
        foreach (var s in samples)
        {
            using var _ = no_grad();
            using var alone = model.Logits(tensor(s, [1, s.Length]));                        // (1, n, V)
            double diff = (packed.narrow(1, start, s.Length) - alone).abs().max().item<float>();
            Assert.True(diff < 1e-5, $"{family}: sample at {start} differs by {diff}");
            start += s.Length;
        }
    }

    [Fact]
    public void Forward_Gpt2Bf16PackedRow_CloseToEachSampleAlone()
    {
        using var model = Gpt2();
        model.ComputeDType = ScalarType.BFloat16;                                          // the masked low-precision attention path
        using var scope = NewDisposeScope();
        long[] a = [1, 2, 3, 4, 5, 6], b = [7, 8, 9, 10];
        using var _ = no_grad();
        using var output = model.call(new CausalLMInput(tensor(a.Concat(b).ToArray(), [1, 10])) { SegmentIds = tensor(new long[] { 0, 0, 0, 0, 0, 0, 1, 1, 1, 1 }, [1, 10]) });
        var packed = output.Logits!;
        var alone = model.Logits(tensor(b, [1, 4]));
        var crossed = model.Logits(tensor(a.Concat(b).ToArray(), [1, 10])).narrow(1, 6, 4);   // b after a, unmasked
        double diff = (packed.narrow(1, 6, 4) - alone).abs().max().item<float>();
        double leak = (crossed - alone).abs().max().item<float>();
        Assert.True(diff < 0.05, $"bf16 packed vs alone: {diff}");
        Assert.True(leak > 10 * diff, $"without segments the second sample would differ by {leak}, with them by {diff}");
    }

    [Fact]
    public void Forward_DeepSeekMtpWithSegments_RunsAndMatchesShape()
    {
        using var model = DeepSeek();
        model.train();
        using var scope = NewDisposeScope();
        using var output = model.call(new CausalLMInput(randint(0, 40, [2, 12])) { SegmentIds = tensor(new long[] { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, [2, 12]), OutputMtp = true });
        Assert.Equal([2L, 11, 40], output.MtpLogits![0].shape);
        Assert.True(output.MtpLogits[0].isfinite().all().item<bool>());
    }
}
