using System.Text.Json;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training;

/// <summary>A two-layer test language model (embedding, LayerNorm, MLP, dropout, LM head) standing in for GPT-2 in trainer tests.</summary>
public sealed class TinyLM : nn.Module<Tensor, Tensor>, ICausalLM
{
    [TorchSharp.Utils.ComponentName(Name = "wte")] private readonly Embedding _wte;
    [TorchSharp.Utils.ComponentName(Name = "wpe")] private readonly Embedding _wpe;
    [TorchSharp.Utils.ComponentName(Name = "ln")] private readonly LayerNorm _ln;
    [TorchSharp.Utils.ComponentName(Name = "fc")] private readonly Linear _fc;
    [TorchSharp.Utils.ComponentName(Name = "proj")] private readonly Linear _proj;
    [TorchSharp.Utils.ComponentName(Name = "lm_head")] private readonly Linear _head;
    private readonly Dropout _drop;

    public int VocabSize { get; }
    public int Width { get; }
    public int MaxSequenceLength => 64;
    public Device Device => CPU;

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
        _fc = nn.Linear(width, 4 * width);
        _proj = nn.Linear(4 * width, width);
        _head = nn.Linear(width, vocab);
        _drop = nn.Dropout(dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids)                        // ids: (B, T)
    {
        OnForward?.Invoke(training);
        using var scope = NewDisposeScope();
        var pos = arange(ids.shape[1], dtype: ScalarType.Int64);
        var x = _drop.call(_wte.call(ids) + _wpe.call(pos));         // (B, T, C)
        x = x + _proj.call(nn.functional.gelu(_fc.call(_ln.call(x))));
        var logits = _head.call(x);                                    // (B, T, V)
        if (Poisoned) logits = logits * float.NaN;
        return logits.MoveToOuterDisposeScope();
    }

    public Tensor Forward(Tensor inputIds, KvCache? cache = null, Tensor? attentionMask = null) => call(inputIds);

    public KvCache CreateKvCache(int batchSize, int capacity) => throw new NotSupportedException();

    public void SavePretrained(string directory)
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
