using System.Text;

namespace SharpSeek.Checkpoints.Gguf;

/// <summary>GGUF metadata value types (ggml/docs/gguf.md, <c>gguf_metadata_value_type</c>).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9,
    UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>
/// A GGUF v3 file (ggml/docs/gguf.md): header "GGUF", version 3, tensor and key/value counts; the key/values; the tensor
/// infos (name, dims innermost first, ggml type, offset); padding to <c>general.alignment</c> (32); then each tensor's data,
/// padded to the alignment. Tensor data is produced lazily while writing, one tensor at a time. Little-endian throughout.
/// </summary>
public sealed class GgufWriter
{
    public const uint Magic = 0x46554747;   // "GGUF" read as a little-endian uint32
    public const uint Version = 3;
    public const int Alignment = 32;
    public const string AlignmentKey = "general.alignment";

    private readonly List<(string Key, GgufValueType Type, GgufValueType ElementType, object Value)> _kv = [];
    private readonly List<Tensor> _tensors = [];
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    private sealed record Tensor(string Name, long[] Shape, GgufType Type, Func<float[]> Values)
    {
        public long Elements => Shape.Aggregate(1L, (a, b) => a * b);
        public long Bytes => GgufTypes.ByteCount(Type, Elements);
    }

    public GgufWriter() => AddUInt32(AlignmentKey, Alignment);

    /// <summary>Keys in insertion order (general.alignment first).</summary>
    public IEnumerable<string> Keys => _kv.Select(kv => kv.Key);

    /// <summary>Tensors added so far: name, shape (outermost first), type.</summary>
    public IEnumerable<(string Name, long[] Shape, GgufType Type)> Tensors => _tensors.Select(t => (t.Name, t.Shape, t.Type));

    public void AddString(string key, string value) => Add(key, GgufValueType.String, value);
    public void AddUInt32(string key, uint value) => Add(key, GgufValueType.UInt32, value);
    public void AddInt32(string key, int value) => Add(key, GgufValueType.Int32, value);
    public void AddFloat32(string key, float value) => Add(key, GgufValueType.Float32, value);
    public void AddBool(string key, bool value) => Add(key, GgufValueType.Bool, value);
    public void AddStringArray(string key, IReadOnlyList<string> values) => Add(key, GgufValueType.Array, values, GgufValueType.String);
    public void AddInt32Array(string key, IReadOnlyList<int> values) => Add(key, GgufValueType.Array, values, GgufValueType.Int32);
    public void AddFloat32Array(string key, IReadOnlyList<float> values) => Add(key, GgufValueType.Array, values, GgufValueType.Float32);

    private void Add(string key, GgufValueType type, object value, GgufValueType elementType = GgufValueType.UInt8)
    {
        if (!_keys.Add(key)) throw new ArgumentException($"GGUF key '{key}' added twice");
        _kv.Add((key, type, elementType, value));
    }

    /// <summary>
    /// Adds a tensor of <paramref name="shape"/> (row-major, outermost first, as in PyTorch; GGUF stores the dims reversed)
    /// whose row-major float values <paramref name="values"/> returns when the data is written.
    /// </summary>
    public void AddTensor(string name, long[] shape, GgufType type, Func<float[]> values)
    {
        if (!_names.Add(name)) throw new ArgumentException($"GGUF tensor '{name}' added twice");
        if (shape.Length is < 1 or > 4) throw new ArgumentException($"tensor '{name}' has {shape.Length} dims; GGUF allows 1 to 4");
        if (GgufTypes.IsQuantized(type) && shape[^1] % GgufTypes.QuantBlock != 0)
            throw new ArgumentException($"tensor '{name}' rows of {shape[^1]} are not whole {type} blocks");
        _tensors.Add(new Tensor(name, shape, type, values));
    }

    /// <summary>Writes the whole file to <paramref name="stream"/>.</summary>
    public void Write(Stream stream)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_kv.Count);
        foreach (var (key, type, elementType, value) in _kv)
        {
            WriteString(w, key);
            w.Write((uint)type);
            WriteValue(w, type, elementType, value);
        }
        long offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Shape.Length);
            for (int d = t.Shape.Length - 1; d >= 0; d--) w.Write((ulong)t.Shape[d]);   // ne[0] = innermost
            w.Write(GgufTypes.GgmlId(t.Type));
            w.Write((ulong)offset);
            offset += Padded(t.Bytes);
        }
        w.Flush();
        Pad(stream);
        foreach (var t in _tensors)
        {
            var values = t.Values();
            if (values.Length != t.Elements) throw new InvalidOperationException($"tensor '{t.Name}' produced {values.Length} values, its shape holds {t.Elements}");
            var bytes = new byte[t.Bytes];
            GgufBlocks.Encode(t.Type, values, bytes);
            stream.Write(bytes);
            Pad(stream);
        }
    }

    /// <summary><paramref name="n"/> rounded up to a multiple of <see cref="Alignment"/>.</summary>
    public static long Padded(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream stream)
    {
        long pad = Padded(stream.Position) - stream.Position;
        if (pad > 0) stream.Write(new byte[pad]);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, GgufValueType elementType, object value)
    {
        switch (type)
        {
            case GgufValueType.String: WriteString(w, (string)value); break;
            case GgufValueType.UInt32: w.Write((uint)value); break;
            case GgufValueType.Int32: w.Write((int)value); break;
            case GgufValueType.Float32: w.Write((float)value); break;
            case GgufValueType.Bool: w.Write((byte)((bool)value ? 1 : 0)); break;
            case GgufValueType.Array:
                w.Write((uint)elementType);
                switch (elementType)
                {
                    case GgufValueType.String:
                        var strings = (IReadOnlyList<string>)value;
                        w.Write((ulong)strings.Count);
                        foreach (var s in strings) WriteString(w, s);
                        break;
                    case GgufValueType.Int32:
                        var ints = (IReadOnlyList<int>)value;
                        w.Write((ulong)ints.Count);
                        foreach (var i in ints) w.Write(i);
                        break;
                    case GgufValueType.Float32:
                        var floats = (IReadOnlyList<float>)value;
                        w.Write((ulong)floats.Count);
                        foreach (var f in floats) w.Write(f);
                        break;
                    default: throw new InvalidOperationException($"arrays of {elementType} are not written");
                }
                break;
            default: throw new InvalidOperationException($"values of {type} are not written");
        }
    }

}
