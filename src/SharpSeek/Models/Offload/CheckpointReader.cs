using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using SharpSeek.Checkpoints;
using SharpSeek.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Models.Offload;

/// <summary>
/// Reads single tensors of a model folder's safetensors files (one file or shards) with positional reads, straight into
/// new CPU tensors. Unlike copying out of <see cref="SafeTensorsFile"/>'s memory map, the file pages read are never mapped
/// into the process, so they do not count in its resident set (the operating system's page cache keeps them, shared and
/// reclaimable): reading every disk layer for each token would otherwise grow the process's RSS to the whole file.
/// </summary>
internal sealed class CheckpointReader : IDisposable
{
    private readonly Dictionary<string, (SafeFileHandle Handle, long DataStart)> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Path, SafeTensorInfo Info)> _tensors = new(StringComparer.Ordinal);

    private CheckpointReader() { }

    /// <summary>Opens the files holding <paramref name="names"/> in <paramref name="folder"/> (already validated against the model).</summary>
    public static CheckpointReader Open(CheckpointFolder folder, IEnumerable<string> names)
    {
        var reader = new CheckpointReader();
        try
        {
            var fileOf = FileMap(folder.Directory);
            foreach (string name in names)
            {
                string file = fileOf?.GetValueOrDefault(name) ?? CheckpointFolder.SingleFile;
                string path = Path.Combine(folder.Directory, file);
                if (!reader._files.ContainsKey(path)) reader._files[path] = OpenFile(path);
                reader._tensors[name] = (path, folder.Info(name));
            }
            return reader;
        }
        catch { reader.Dispose(); throw; }
    }

    /// <summary>Tensor name → shard file from model.safetensors.index.json, or null for a single model.safetensors.</summary>
    private static Dictionary<string, string>? FileMap(string dir)
    {
        string index = Path.Combine(dir, CheckpointFolder.IndexFile);
        if (!File.Exists(index)) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(index));                        // CheckpointFolder.Open has validated it
        return doc.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
    }

    private static (SafeFileHandle, long) OpenFile(string path)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        Span<byte> length = stackalloc byte[8];
        ReadExactly(handle, length, 0, path);
        return (handle, 8 + (long)BitConverter.ToUInt64(length));
    }

    /// <summary>The dtype tensor <paramref name="name"/> is stored in.</summary>
    public ScalarType StoredType(string name) => SafeTensors.ToScalarType(_tensors[name].Info.DType);

    /// <summary>Tensor <paramref name="name"/> as stored (dtype and shape), in a new CPU tensor.</summary>
    public Tensor Read(string name)
    {
        var info = _tensors[name].Info;
        var t = torch.empty(info.Shape, SafeTensors.ToScalarType(info.DType));
        try { ReadInto(name, t); }
        catch { t.Dispose(); throw; }
        return t;
    }

    /// <summary>Reads tensor <paramref name="name"/> into <paramref name="target"/>, a contiguous CPU tensor of its stored dtype and element count.</summary>
    public unsafe void ReadInto(string name, Tensor target)
    {
        var (path, info) = _tensors[name];
        var (handle, dataStart) = _files[path];
        long n = info.End - info.Begin;
        if (n == 0) return;
        byte* dst = (byte*)TensorData.Pointer(target);
        for (long done = 0; done < n;)                                                           // spans stop at 2 GiB
        {
            int chunk = (int)Math.Min(n - done, 1 << 30);
            ReadExactly(handle, new Span<byte>(dst + done, chunk), dataStart + info.Begin + done, path);
            done += chunk;
        }
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path)
    {
        while (buffer.Length > 0)
        {
            int read = RandomAccess.Read(handle, buffer, offset);
            if (read == 0) throw new CheckpointException($"{path}: file ended early (changed since it was opened?)");
            buffer = buffer[read..];
            offset += read;
        }
    }

    public void Dispose()
    {
        foreach (var (handle, _) in _files.Values) handle.Dispose();
        _files.Clear();
    }
}
