using System.Globalization;
using System.Text.Json;
using SharpSeek.Checkpoints;
using SharpSeek.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SharpSeek.Models.Common;

/// <summary>
/// The LoRA adapters attached to one model (PEFT's LoraModel without the wrapper): attach by module name, freeze the base so
/// only adapters train, save/load PEFT's adapter_model.safetensors + adapter_config.json, merge into the weights and back.
/// The adapters are not part of the model's module tree: its state dict and <see cref="CausalLM.SavePretrained"/> stay the
/// base model's; <see cref="LoraCausalLM"/> wraps base and adapters as one model for the trainer (or take <see cref="Parameters"/>).
/// </summary>
public sealed class LoraAdapters : IDisposable
{
    public const string WeightsFile = "adapter_model.safetensors";
    public const string ConfigFile = "adapter_config.json";
    private const string KeyPrefix = "base_model.model.";

    private readonly nn.Module _model;
    private readonly List<(string Path, Projection Target, LoraAdapter Adapter)> _adapters;
    private readonly List<(Parameter Param, bool RequiresGrad)> _frozen = [];
    private readonly Dictionary<string, Tensor> _originals = new(StringComparer.Ordinal);   // weights before Merge
    private bool _unloaded;

    /// <summary>The settings the adapters were made with (for a loaded file, the file's).</summary>
    public LoraConfig Config { get; }

    /// <summary>True between <see cref="Merge"/> and <see cref="Unmerge"/>: the deltas are in the weights, the adapters off.</summary>
    public bool IsMerged { get; private set; }

    /// <summary>Adapted module paths (e.g. transformer.h.0.attn.c_attn) in model order, with their adapters.</summary>
    public IReadOnlyDictionary<string, LoraAdapter> Adapters { get; }

    private LoraAdapters(nn.Module model, LoraConfig config, List<(string, Projection, LoraAdapter)> adapters)
    {
        _model = model; Config = config; _adapters = adapters;
        var byPath = new OrderedDictionary<string, LoraAdapter>(StringComparer.Ordinal);
        foreach (var (path, _, adapter) in adapters) byPath.Add(path, adapter);
        Adapters = byPath;
        foreach (var p in model.parameters()) { _frozen.Add((p, p.requires_grad)); p.requires_grad = false; }
        foreach (var (_, target, adapter) in _adapters) target.Adapter = adapter;
    }

    /// <summary>
    /// Adds a fresh adapter (A Kaiming-uniform, B zero) to every projection of <paramref name="model"/> that
    /// <paramref name="config"/>'s target_modules select and freezes all base parameters. Throws
    /// <see cref="ConfigException"/> when a target matches no projection (naming the projections there are) or a
    /// projection already has an adapter.
    /// </summary>
    public static LoraAdapters Attach(nn.Module model, LoraConfig config)
    {
        config.Validate();
        var projections = ProjectionsOf(model);
        foreach (var target in config.TargetModules)
            if (!projections.Any(p => LoraConfig.Matches(p.Path, target)))
                throw new ConfigException($"LoRA target module '{target}' matches no projection of the model; its projections are named {string.Join(", ", LeafNames(projections.Select(p => p.Path)))}");
        var chosen = projections.Where(p => config.TargetModules.Any(t => LoraConfig.Matches(p.Path, t))).ToList();
        ThrowIfAdapted(chosen);
        var adapters = chosen.Select(p => (p.Path, p.Target, new LoraAdapter(p.Target, config.R, config.Scaling, config.LoraDropout))).ToList();
        return new LoraAdapters(model, config, adapters);
    }

    /// <summary>Every <see cref="Projection"/> registered in <paramref name="model"/> with its module path (each once; a tied head is not registered).</summary>
    public static IReadOnlyList<(string Path, Projection Target)> ProjectionsOf(nn.Module model)
    {
        var seen = new HashSet<Projection>(ReferenceEqualityComparer.Instance);
        var result = new List<(string, Projection)>();
        foreach (var (name, m) in model.named_modules())
            if (m is Projection p && seen.Add(p)) result.Add((name, p));
        return result;
    }

    private static IEnumerable<string> LeafNames(IEnumerable<string> paths) =>
        paths.Select(p => p[(p.LastIndexOf('.') + 1)..]).Distinct().Order(StringComparer.Ordinal);

    private static void ThrowIfAdapted(IEnumerable<(string Path, Projection Target)> projections)
    {
        foreach (var (path, target) in projections)
            if (target.Adapter is not null) throw new ConfigException($"projection '{path}' already has an adapter; unload it before attaching another");
    }

    // ---- training ------------------------------------------------------------------------------------------------

    /// <summary>The adapters' parameters under PEFT's names (base_model.model.&lt;path&gt;.lora_A.weight, .lora_B.weight).</summary>
    public IEnumerable<(string Name, Parameter Param)> NamedParameters()
    {
        foreach (var (path, _, adapter) in _adapters)
        {
            yield return ($"{KeyPrefix}{path}.lora_A.weight", adapter.A);
            yield return ($"{KeyPrefix}{path}.lora_B.weight", adapter.B);
        }
    }

    /// <summary>What an optimizer trains: every lora_A and lora_B.</summary>
    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(x => x.Param);

    /// <summary>Elements of the adapters (the trainable parameters).</summary>
    public long TrainableParameterCount => Parameters().Sum(p => p.NumberOfElements);

    /// <summary>Elements of the base model (tied tensors once) plus the adapters.</summary>
    public long AllParameterCount
    {
        get
        {
            var seen = new HashSet<IntPtr>();
            long n = 0;
            foreach (var p in _model.parameters()) if (seen.Add(DataPointer(p))) n += p.NumberOfElements;
            return n + TrainableParameterCount;
        }
    }

    public double TrainableFraction => (double)TrainableParameterCount / AllParameterCount;

    /// <summary>PEFT's print_trainable_parameters line: "trainable params: … || all params: … || trainable%: …".</summary>
    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"trainable params: {TrainableParameterCount:N0} || all params: {AllParameterCount:N0} || trainable%: {100 * TrainableFraction:F4}");

    private static unsafe IntPtr DataPointer(Tensor t) => (IntPtr)TensorData.Pointer(t);

    // ---- merge -----------------------------------------------------------------------------------------------------

    /// <summary>W ← W + s·B·A in every adapted projection, adapters switched off (plain-matrix speed). A copy of each W is kept for <see cref="Unmerge"/>.</summary>
    public void Merge()
    {
        ThrowIfUnloaded();
        if (IsMerged) throw new InvalidOperationException("the adapters are already merged");
        if (_adapters.FirstOrDefault(a => a.Target.Quantized is not null) is { Path: { } quantized })
            throw new ConfigException($"LoRA adapters cannot be merged into the quantized projection '{quantized}'; merge them into the float model, then quantize");
        using var _ = torch.no_grad();
        foreach (var (path, target, adapter) in _adapters)
        {
            var w = target.Weight;                                                       // (out, in)
            _originals[path] = w.detach().clone();
            using var delta = adapter.Delta();                                           // (out, in)
            w.add_(delta.to(w.dtype));
            target.Adapter = null;
        }
        IsMerged = true;
    }

    /// <summary>
    /// Undoes <see cref="Merge"/>: each W gets back the copy taken at merge time (bit-identical; W − s·B·A would not be, float
    /// addition not being invertible) and the adapters are switched on again.
    /// </summary>
    public void Unmerge()
    {
        ThrowIfUnloaded();
        if (!IsMerged) throw new InvalidOperationException("the adapters are not merged");
        using var _ = torch.no_grad();
        foreach (var (path, target, adapter) in _adapters)
        {
            target.Weight.copy_(_originals[path]);
            _originals[path].Dispose();
            target.Adapter = adapter;
        }
        _originals.Clear();
        IsMerged = false;
    }

    /// <summary>Removes the adapters (unmerging first) and restores the base parameters' requires_grad: the base model as it was.</summary>
    public void Unload()
    {
        if (_unloaded) return;
        if (IsMerged) Unmerge();
        foreach (var (_, target, _) in _adapters) target.Adapter = null;
        Release();
    }

    /// <summary>Keeps the merged weights (W + s·B·A) and removes the adapters: a plain model to save or serve.</summary>
    public void MergeAndUnload()
    {
        ThrowIfUnloaded();
        if (!IsMerged) Merge();
        foreach (var t in _originals.Values) t.Dispose();
        _originals.Clear();
        IsMerged = false;
        Release();
    }

    private void Release()
    {
        foreach (var (p, requiresGrad) in _frozen) p.requires_grad = requiresGrad;
        _frozen.Clear();
        _unloaded = true;
    }

    private void ThrowIfUnloaded()
    {
        if (_unloaded) throw new InvalidOperationException("the adapters were unloaded from the model");
    }

    // ---- PEFT files ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Writes the adapters alone in PEFT's layout: <see cref="WeightsFile"/> (base_model.model.&lt;path&gt;.lora_A.weight
    /// (r, in), .lora_B.weight (out, r)) and <see cref="ConfigFile"/>, each atomically. target_modules is written as the
    /// names of the adapted modules, so PEFT adapts at least every module the file has weights for.
    /// </summary>
    public void Save(string directory)
    {
        var config = Config with
        {
            TargetModules = LeafNames(_adapters.Select(a => a.Path)).ToArray(),
            FanInFanOut = _model is CausalLM { ModelType: "gpt2" },
        };
        Directory.CreateDirectory(directory);
        SafeTensors.Save(Path.Combine(directory, WeightsFile), NamedParameters().Select(x => new KeyValuePair<string, Tensor>(x.Name, x.Param)),
            new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFiles.WriteText(Path.Combine(directory, ConfigFile), config.ToJson());
    }

    /// <summary>
    /// Attaches the adapters saved in <paramref name="directory"/> (by this class or PEFT) to <paramref name="model"/> and
    /// freezes its base parameters. Everything is checked before the model is touched: a tensor that is not a LoRA
    /// weight, names a module that is not a projection of <paramref name="model"/>, has the wrong shape or lacks its
    /// partner throws <see cref="CheckpointException"/> naming the file and tensor.
    /// </summary>
    public static LoraAdapters Load(nn.Module model, string directory)
    {
        string configPath = Path.Combine(directory, ConfigFile), weightsPath = Path.Combine(directory, WeightsFile);
        var config = ReadConfig(configPath);
        using var file = SafeTensorsFile.Open(weightsPath);
        var projections = ProjectionsOf(model).ToDictionary(p => p.Path, p => p.Target, StringComparer.Ordinal);

        var pairs = new SortedDictionary<string, (string? A, string? B)>(StringComparer.Ordinal);
        foreach (var name in file.Tensors.Keys)
        {
            var (path, part) = ParseKey(name) ?? throw new CheckpointException(
                $"{weightsPath}: tensor '{name}' is not a LoRA weight (expected base_model.model.<module path>.lora_A.weight or .lora_B.weight)");
            if (!projections.TryGetValue(path, out var target))
                throw new CheckpointException($"{weightsPath}: tensor '{name}' is for module '{path}', which is not a projection of the base model");
            long[] expected = part == "A" ? [config.R, target.InFeatures] : [target.OutFeatures, config.R];
            var shape = file.Tensors[name].Shape;
            if (!shape.SequenceEqual(expected))
                throw new CheckpointException($"{weightsPath}: tensor '{name}' has shape [{string.Join(", ", shape)}] but the base model's '{path}' needs [{string.Join(", ", expected)}] (r = {config.R})");
            pairs.TryGetValue(path, out var pair);
            pairs[path] = part == "A" ? (name, pair.B) : (pair.A, name);
        }
        if (pairs.Count == 0) throw new CheckpointException($"{weightsPath}: holds no LoRA weights");
        foreach (var (path, (a, b)) in pairs)
            if (a is null || b is null)
                throw new CheckpointException($"{weightsPath}: tensor '{a ?? b}' has no matching {(a is null ? "lora_A" : "lora_B")} for module '{path}'");

        var order = ProjectionsOf(model).Where(p => pairs.ContainsKey(p.Path)).ToList();   // model order
        ThrowIfAdapted(order);
        var adapters = new List<(string, Projection, LoraAdapter)>();
        using (torch.no_grad())
            foreach (var (path, target) in order)
            {
                var adapter = new LoraAdapter(target, config.R, config.Scaling, config.LoraDropout);
                using (var a = file.Load(pairs[path].A!)) adapter.A.copy_(a);
                using (var b = file.Load(pairs[path].B!)) adapter.B.copy_(b);
                adapters.Add((path, target, adapter));
            }
        return new LoraAdapters(model, config, adapters);
    }

    /// <summary>(module path, "A" or "B") of a PEFT key base_model.model.&lt;path&gt;.lora_A.weight, or null.</summary>
    public static (string Path, string Part)? ParseKey(string name)
    {
        if (!name.StartsWith(KeyPrefix, StringComparison.Ordinal)) return null;
        foreach (var part in new[] { "A", "B" })
        {
            string suffix = $".lora_{part}.weight";
            if (name.EndsWith(suffix, StringComparison.Ordinal) && name.Length > KeyPrefix.Length + suffix.Length)
                return (name[KeyPrefix.Length..^suffix.Length], part);
        }
        return null;
    }

    private static LoraConfig ReadConfig(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: adapter config not found");
        LoraConfig? config;
        try { config = JsonSerializer.Deserialize<LoraConfig>(File.ReadAllText(path), LoraConfig.JsonOptions); }
        catch (JsonException e) { throw new CheckpointException($"{path}: invalid adapter config ({e.Message})"); }
        if (config is null) throw new CheckpointException($"{path}: adapter config is empty");
        try { config.Validate(); }
        catch (ConfigException e) { throw new CheckpointException($"{path}: {e.Message}"); }
        return config;
    }

    /// <summary>Unloads the adapters from the model (see <see cref="Unload"/>) unless already unloaded, and frees them.</summary>
    public void Dispose()
    {
        if (!_unloaded) Unload();
        foreach (var (_, _, adapter) in _adapters) adapter.Dispose();
    }
}
