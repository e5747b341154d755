using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Checkpoints;

/// <summary>Element types of the safetensors format (huggingface/safetensors).</summary>
public enum SafeTensorDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL }

/// <summary>One entry of a safetensors header: name, dtype, shape and byte range inside the data block.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements, the product of the shape (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A safetensors file opened for reading (huggingface/safetensors format): the header is parsed and validated at
/// open, the data block is memory-mapped and each tensor is copied out only when asked for.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the reference implementation uses 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafeTensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, long dataStart,
        Dictionary<string, SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path; _map = map; _view = view; _dataStart = dataStart; Tensors = tensors; Metadata = metadata;
    }

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="CheckpointException"/> naming the problem.</summary>
    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found");
        long fileLength = new FileInfo(path).Length;
        if (fileLength < 8) throw new CheckpointException($"{path}: truncated safetensors file ({fileLength} bytes, less than the 8-byte header length)");

        byte[] header;
        using (var fs = File.OpenRead(path))
        {
            Span<byte> lenBytes = stackalloc byte[8];
            fs.ReadExactly(lenBytes);
            ulong n = BitConverter.ToUInt64(lenBytes);
            if (n > MaxHeaderBytes) throw new CheckpointException($"{path}: safetensors header length {n} exceeds the {MaxHeaderBytes}-byte limit (corrupt or not a safetensors file)");
            if ((long)n > fileLength - 8) throw new CheckpointException($"{path}: safetensors header length {n} runs past the end of the file ({fileLength} bytes): the file is truncated or corrupt");
            header = new byte[n];
            fs.ReadExactly(header);
        }
        long dataStart = 8 + header.Length, dataLength = fileLength - dataStart;
        var (tensors, metadata) = ParseHeader(path, header, dataLength);

        MemoryMappedFile? map = null; MemoryMappedViewAccessor? view = null;
        if (fileLength > 0 && dataLength > 0)
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, fileLength, MemoryMappedFileAccess.Read);
        }
        return new SafeTensorsFile(path, map, view, dataStart, tensors, metadata);
    }

    private static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw new CheckpointException($"{path}: safetensors header is not valid JSON ({e.Message})"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{path}: safetensors header is not a JSON object");

        var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{path}: __metadata__ must be an object of strings");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw new CheckpointException($"{path}: __metadata__ value '{m.Name}' is not a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            if (tensors.ContainsKey(prop.Name)) throw new CheckpointException($"{path}: tensor '{prop.Name}' appears twice in the header");
            tensors[prop.Name] = ParseEntry(path, prop.Name, prop.Value, dataLength);
        }

        // Byte ranges must not overlap (zero-length tensors may sit anywhere).
        SafeTensorInfo? prev = null;
        foreach (var t in tensors.Values.Where(t => t.End > t.Begin).OrderBy(t => t.Begin))
        {
            if (prev is not null && t.Begin < prev.End)
                throw new CheckpointException($"{path}: tensors '{prev.Name}' [{prev.Begin}, {prev.End}) and '{t.Name}' [{t.Begin}, {t.End}) overlap");
            prev = t;
        }
        return (tensors, metadata);
    }

    private static SafeTensorInfo ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{where}: header entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw new CheckpointException($"{where}: missing dtype");
        if (!Enum.TryParse<SafeTensorDType>(dt.GetString(), ignoreCase: false, out var dtype) || !Enum.IsDefined(dtype))
            throw new CheckpointException($"{where}: unsupported dtype '{dt.GetString()}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw new CheckpointException($"{where}: missing shape");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0) throw new CheckpointException($"{where}: shape must be non-negative integers");
            shape[i++] = v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new CheckpointException($"{where}: data_offsets must be [begin, end]");
        if (!off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new CheckpointException($"{where}: data_offsets [{off[0]}, {off[1]}] are not a valid range");
        if (end > dataLength) throw new CheckpointException($"{where}: data_offsets [{begin}, {end}) run past the data block ({dataLength} bytes): file truncated or corrupt");
        var info = new SafeTensorInfo(name, dtype, shape, begin, end);
        long expected;
        try { expected = checked(info.ElementCount * SafeTensors.ElementSize(dtype)); }
        catch (OverflowException) { throw new CheckpointException($"{where}: shape [{string.Join(", ", shape)}] is too large"); }
        if (expected != end - begin)
            throw new CheckpointException($"{where}: shape [{string.Join(", ", shape)}] × {SafeTensors.ElementSize(dtype)} bytes ({dtype}) = {expected} bytes, but data_offsets span {end - begin}");
        return info;
    }

    /// <summary>True when the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name) => Tensors.ContainsKey(name);

    /// <summary>Copies tensor <paramref name="name"/> out of the file into a new CPU tensor of its stored dtype.</summary>
    public unsafe Tensor Load(string name)
    {
        if (!Tensors.TryGetValue(name, out var info)) throw new CheckpointException($"{Path}: no tensor named '{name}'");
        var type = SafeTensors.ToScalarType(info.DType);
        long n = info.End - info.Begin;
        if (n == 0) return torch.empty(info.Shape, type);
        byte* basePtr = null;
        _view!.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
        try
        {
            byte* src = basePtr + _view.PointerOffset + _dataStart + info.Begin;
            if (n <= int.MaxValue)
            {
                var t = torch.empty(info.Shape, type);
                new ReadOnlySpan<byte>(src, (int)n).CopyTo(t.bytes);
                return t;
            }
            // Spans stop at 2 GiB: copy larger tensors in 1 GiB pieces and join them.
            int elem = SafeTensors.ElementSize(info.DType);
            long perChunk = (1L << 30) / elem;
            var pieces = new List<Tensor>();
            for (long e0 = 0; e0 < info.ElementCount; e0 += perChunk)
            {
                long count = Math.Min(perChunk, info.ElementCount - e0);
                var piece = torch.empty(new[] { count }, type);
                new ReadOnlySpan<byte>(src + e0 * elem, (int)(count * elem)).CopyTo(piece.bytes);
                pieces.Add(piece);
            }
            var joined = torch.cat(pieces, 0).view(info.Shape);
            foreach (var p in pieces) p.Dispose();
            return joined;
        }
        finally { _view.SafeMemoryMappedViewHandle.ReleasePointer(); }
    }

    public void Dispose() { _view?.Dispose(); _map?.Dispose(); }
}

/// <summary>Writes safetensors files and maps dtypes to TorchSharp's.</summary>
public static class SafeTensors
{
    public static int ElementSize(SafeTensorDType d) => d switch
    {
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.I16 => 2,
        _ => 1,
    };

    public static ScalarType ToScalarType(SafeTensorDType d) => d switch
    {
        SafeTensorDType.F64 => ScalarType.Float64,
        SafeTensorDType.F32 => ScalarType.Float32,
        SafeTensorDType.F16 => ScalarType.Float16,
        SafeTensorDType.BF16 => ScalarType.BFloat16,
        SafeTensorDType.I64 => ScalarType.Int64,
        SafeTensorDType.I32 => ScalarType.Int32,
        SafeTensorDType.I16 => ScalarType.Int16,
        SafeTensorDType.I8 => ScalarType.Int8,
        SafeTensorDType.U8 => ScalarType.Byte,
        SafeTensorDType.BOOL => ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(d)),
    };

    public static SafeTensorDType FromScalarType(ScalarType s) => s switch
    {
        ScalarType.Float64 => SafeTensorDType.F64,
        ScalarType.Float32 => SafeTensorDType.F32,
        ScalarType.Float16 => SafeTensorDType.F16,
        ScalarType.BFloat16 => SafeTensorDType.BF16,
        ScalarType.Int64 => SafeTensorDType.I64,
        ScalarType.Int32 => SafeTensorDType.I32,
        ScalarType.Int16 => SafeTensorDType.I16,
        ScalarType.Int8 => SafeTensorDType.I8,
        ScalarType.Byte => SafeTensorDType.U8,
        ScalarType.Bool => SafeTensorDType.BOOL,
        _ => throw new ArgumentException($"dtype {s} cannot be stored in safetensors"),
    };

    /// <summary>
    /// Writes <paramref name="tensors"/> (in name order) to <paramref name="path"/>: header padded with spaces to a
    /// multiple of 8, optional <c>__metadata__</c>. Written to a temporary file and renamed, so a failure never
    /// leaves a partial file under <paramref name="path"/>.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in list)
            if (!names.Add(name)) throw new ArgumentException($"tensor name '{name}' given twice");

        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in list)
            {
                long bytes = t.NumberOfElements * ElementSize(FromScalarType(t.dtype));
                w.WriteStartObject(name);
                w.WriteString("dtype", FromScalarType(t.dtype).ToString());
                w.WriteStartArray("shape");
                foreach (var d in t.shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');

        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        string tmp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                fs.Write(BitConverter.GetBytes((ulong)ms.Length));
                ms.Position = 0;
                ms.CopyTo(fs);
                foreach (var (_, t) in list)
                {
                    using var c = t.detach().cpu().contiguous();
                    if (c.NumberOfElements > 0) fs.Write(c.bytes);
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }
}
