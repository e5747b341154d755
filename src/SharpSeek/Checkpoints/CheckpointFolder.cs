using System.Text.Json;
using static TorchSharp.torch;

namespace SharpSeek.Checkpoints;

/// <summary>
/// The weights of a Hugging Face model folder: <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c> (its <c>weight_map</c>: tensor name → shard file). Tensors load lazily.
/// </summary>
public sealed class CheckpointFolder : IDisposable
{
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    private readonly Dictionary<string, SafeTensorsFile> _fileOf = new(StringComparer.Ordinal);
    private readonly List<SafeTensorsFile> _files = new();

    public string Directory { get; }

    /// <summary>All tensor names across shards.</summary>
    public IReadOnlyCollection<string> Names => _fileOf.Keys;

    private CheckpointFolder(string dir) { Directory = dir; }

    /// <summary>Opens the weights in <paramref name="dir"/>, validating every shard's header.</summary>
    public static CheckpointFolder Open(string dir)
    {
        if (!System.IO.Directory.Exists(dir)) throw new CheckpointException($"{dir}: model folder not found");
        var folder = new CheckpointFolder(dir);
        try
        {
            string single = Path.Combine(dir, SingleFile), index = Path.Combine(dir, IndexFile);
            if (File.Exists(index)) folder.OpenSharded(index);
            else if (File.Exists(single)) folder.Add(SafeTensorsFile.Open(single), null);
            else throw new CheckpointException($"{dir}: no {SingleFile} or {IndexFile}");
            return folder;
        }
        catch { folder.Dispose(); throw; }
    }

    private void OpenSharded(string indexPath)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(indexPath)); }
        catch (JsonException e) { throw new CheckpointException($"{indexPath}: not valid JSON ({e.Message})"); }
        using var _ = doc;
        if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"{indexPath}: missing weight_map");
        var wanted = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
        {
            string shard = p.Value.GetString() ?? throw new CheckpointException($"{indexPath}: weight_map['{p.Name}'] is not a file name");
            if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                throw new CheckpointException($"{indexPath}: shard name '{shard}' must be a plain file name in the folder");
            if (!wanted.TryGetValue(shard, out var names)) wanted[shard] = names = new();
            names.Add(p.Name);
        }
        foreach (var (shard, names) in wanted)
        {
            var f = SafeTensorsFile.Open(Path.Combine(Directory, shard));
            Add(f, names);
        }
    }

    private void Add(SafeTensorsFile f, List<string>? onlyNames)
    {
        _files.Add(f);
        if (onlyNames is null) { foreach (var n in f.Tensors.Keys) _fileOf[n] = f; return; }
        foreach (var n in onlyNames)
        {
            if (!f.Contains(n)) throw new CheckpointException($"{f.Path}: index says it holds '{n}', but the file has no such tensor");
            _fileOf[n] = f;
        }
    }

    public bool Contains(string name) => _fileOf.ContainsKey(name);

    public SafeTensorInfo Info(string name) =>
        _fileOf.TryGetValue(name, out var f) ? f.Tensors[name] : throw new CheckpointException($"{Directory}: checkpoint has no tensor '{name}'");

    /// <summary>Loads tensor <paramref name="name"/> in its stored dtype.</summary>
    public Tensor Load(string name) =>
        _fileOf.TryGetValue(name, out var f) ? f.Load(name) : throw new CheckpointException($"{Directory}: checkpoint has no tensor '{name}'");

    public void Dispose() { foreach (var f in _files) f.Dispose(); }
}
