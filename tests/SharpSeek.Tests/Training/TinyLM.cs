using System.Text.Json;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training;

/// <summary>A two-layer test language model (embedding, LayerNorm, MLP, dropout, LM head) standing in for GPT-2 in trainer tests.</summary>
public sealed class TinyLM : CausalLM
{
    [TorchSharp.Utils.ComponentName(Name = "wte")] private readonly Embedding _wte;
    [TorchSharp.Utils.ComponentName(Name = "wpe")] private readonly Embedding _wpe;
    [TorchSharp.Utils.ComponentName(Name = "ln")] private readonly LayerNorm _ln;
    [TorchSharp.Utils.ComponentName(Name = "fc")] private readonly Projection _fc;
    [TorchSharp.Utils.ComponentName(Name = "proj")] private readonly Projection _proj;
    [TorchSharp.Utils.ComponentName(Name = "lm_head")] private readonly Projection _head;
    private readonly Dropout _drop;

    public override int VocabSize { get; }
    public int Width { get; }
    public override int HiddenSize => Width;
    public override int MaxSequenceLength => 64;
    public override string ModelType => "tiny";
    public override Device Device => CPU;
    public override Projection OutputHead => _head;

    /// <summary>When set, every forward returns NaN logits (to test divergence handling).</summary>
    public bool Poisoned { get; set; }

    /// <summary>Called at every forward with the training flag (to make a step or an evaluation take time in tests).</summary>
    public Action<bool>? OnForward { get; set; }

    public TinyLM(int vocab, int width, double dropout = 0.0) : base(nameof(TinyLM))
    {
        VocabSize = vocab; Width = width;
        _wte = nn.Embedding(vocab, width);
        _wpe = nn.Embedding(MaxSequenceLength, width);
        _ln = nn.LayerNorm(width);
        _fc = new Projection(width, 4 * width);
        _proj = new Projection(4 * width, width);
        _head = new Projection(width, vocab);
        _drop = nn.Dropout(dropout);
        RegisterComponents();
    }

    public override CausalLMOutput forward(CausalLMInput input)
    {
        OnForward?.Invoke(training);
        using var scope = NewDisposeScope();
        var ids = input.InputIds;                                      // (B, T)
        var pos = arange(ids.shape[1], dtype: ScalarType.Int64);
        var x = _drop.call(_wte.call(ids) + _wpe.call(pos));         // (B, T, C)
        x = x + _proj.call(nn.functional.gelu(_fc.call(_ln.call(x)))).to(x.dtype);
        if (Poisoned) x = x * float.NaN;
        var logits = input.ComputeLogits ? _head.call(x).to(x.dtype).MoveToOuterDisposeScope() : null;   // (B, T, V)
        return new CausalLMOutput(logits) { LastHiddenState = x.MoveToOuterDisposeScope() };
    }

    public override KvCache CreateKvCache(int batchSize, int capacity) => throw new NotSupportedException();

    public override void SavePretrained(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"), JsonSerializer.Serialize(new { model_type = "tiny", vocab_size = VocabSize, width = Width }));
        SafeTensors.Save(Path.Combine(directory, CheckpointFolder.SingleFile), state_dict().Select(kv => new KeyValuePair<string, Tensor>(kv.Key, kv.Value)));
    }

    public static TinyLM Load(string directory, double dropout = 0.0)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "config.json")));
        var model = new TinyLM(doc.RootElement.GetProperty("vocab_size").GetInt32(), doc.RootElement.GetProperty("width").GetInt32(), dropout);
        using var f = SafeTensorsFile.Open(Path.Combine(directory, CheckpointFolder.SingleFile));
        using (no_grad())
            foreach (var (name, p) in model.state_dict())
            {
                using var t = f.Load(name);
                p.copy_(t);
            }
        return model;
    }
}
