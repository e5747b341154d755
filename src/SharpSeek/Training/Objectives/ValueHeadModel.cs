using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>
/// A policy with a value head for PPO (TRL's AutoModelForCausalLMWithValueHead): <c>v_head</c> = Linear(C → 1) on the
/// policy's last hidden state, a shared trunk, so one forward gives the next-token logits and the values V(s_t) (cheap on a
/// CPU: no second model). <see cref="DetachValueInput"/> stops the value loss from moving the trunk (the head then learns on
/// fixed features). The head starts at zero (V = 0 everywhere) and computes in float32.
/// The forward is the policy's (generation and evaluation see a plain causal LM); <see cref="ForwardWithValues"/> adds the
/// values. Parameters: the policy's (all, or its LoRA adapters when the policy is a <see cref="LoraCausalLM"/>) plus the
/// head, so the trainer optimises both. <see cref="SavePretrained"/> writes the plain causal-LM folder (generate and eval load
/// it as is) plus <see cref="FileName"/> beside it; <see cref="Load"/> restores both for a resume.
/// </summary>
public sealed class ValueHeadModel : WrappedCausalLM
{
    /// <summary>The value head's weights next to the model files: tensors "v_head.weight" (1, C) and "v_head.bias" (1).</summary>
    public const string FileName = "value_head.safetensors";

    [TorchSharp.Utils.ComponentName(Name = "v_head")] private readonly Linear _vHead;

    /// <summary>The language model the head sits on.</summary>
    public CausalLM Policy => Inner;

    /// <summary>True: the head reads the hidden state detached, so the value loss trains the head alone.</summary>
    public bool DetachValueInput { get; }

    /// <summary>A fresh (zero) value head on <paramref name="policy"/>.</summary>
    public ValueHeadModel(CausalLM policy, bool detachValueInput = false) : base(nameof(ValueHeadModel), policy)
    {
        DetachValueInput = detachValueInput;
        _vHead = nn.Linear(policy.HiddenSize, 1);
        using (no_grad())
        {
            _vHead.weight!.zero_();
            _vHead.bias!.zero_();
        }
        register_module("pretrained_model", policy);
        register_module("v_head", _vHead);
        AdoptInnerState();
    }

    /// <summary><paramref name="policy"/> with the value head saved in <paramref name="directory"/> (a checkpoint of this class).</summary>
    public static ValueHeadModel Load(CausalLM policy, string directory, bool detachValueInput = false)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new CheckpointException($"{directory}: no {FileName} (not a PPO checkpoint)");
        var model = new ValueHeadModel(policy, detachValueInput);
        using var f = SafeTensorsFile.Open(path);
        using var _ = no_grad();
        foreach (var (name, p) in new[] { ("v_head.weight", model._vHead.weight!), ("v_head.bias", model._vHead.bias!) })
        {
            if (!f.Contains(name)) throw new CheckpointException($"{path}: tensor {name} is missing");
            using var t = f.Load(name);
            if (!t.shape.SequenceEqual(p.shape))
                throw new CheckpointException($"{path}: {name} has shape [{string.Join(", ", t.shape)}], the model needs [{string.Join(", ", p.shape)}]");
            p.copy_(t);
        }
        return model;
    }

    /// <summary>The policy's output for <paramref name="input"/> and the values (B, T) in float32 at every position of its last hidden state.</summary>
    public (CausalLMOutput Output, Tensor Values) ForwardWithValues(CausalLMInput input)
    {
        var output = Inner.call(input);
        var hidden = output.LastHiddenState.to(ScalarType.Float32);                        // (B, T, C)
        if (DetachValueInput) hidden = hidden.detach();
        return (output, Values(hidden));
    }

    /// <summary>V = v_head(hidden): (B, T, C) → (B, T).</summary>
    public Tensor Values(Tensor hidden) => _vHead.call(hidden).squeeze(-1);

    /// <summary>The policy's folder (config.json, weights, LoRA files if any) plus <see cref="FileName"/>.</summary>
    public override void SavePretrained(string directory)
    {
        Inner.SavePretrained(directory);
        using var w = _vHead.weight!.detach().contiguous();
        using var b = _vHead.bias!.detach().contiguous();
        SafeTensors.Save(Path.Combine(directory, FileName), [new("v_head.weight", w), new("v_head.bias", b)]);
    }
}
