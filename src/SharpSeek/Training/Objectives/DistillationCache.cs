using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;
using static TorchSharp.torch;

namespace SharpSeek.Training.Objectives;

/// <summary>Top-k teacher targets of one data split: per position (rows in the data's position order) k ids and their renormalised log-probabilities.</summary>
public sealed record TopKTargets(Tensor Ids, Tensor LogProbs)
{
    /// <summary>Positions (rows).</summary>
    public long Count => Ids.shape[0];

    /// <summary>Ids kept per position.</summary>
    public int K => (int)Ids.shape[1];
}

/// <summary>
/// The teacher cache of <c>sharpseek distill</c>: the teachers' mixed distribution at τ, computed once over the training data
/// and stored as top-k ids and log-probabilities per position, so the student trains without running the teachers.
/// <para>
/// File: <see cref="FileName"/> in the cache folder, a safetensors file with tensors <c>train.ids</c> (int32, (N, k)),
/// <c>train.log_probs</c> (float32, (N, k), each row renormalised over its k ids), <c>val.ids</c>, <c>val.log_probs</c>, and
/// in its JSON header's <c>__metadata__</c> the key <c>identity</c>: a JSON object naming what the cache was built from
/// (<see cref="Identity"/>: format, each teacher's SHA-256 of config.json and of its weights files and its normalised weight,
/// τ, k, the vocabulary size, and the data: kind, block_size and a SHA-256 fingerprint). Row n of a split is the n-th
/// position in the data's position order (text: window w = tokens [wT, wT + T), position t → row wT + t; SFT: the samples
/// in file order, each sample's positions in turn).
/// </para>
/// </summary>
public static class TeacherCache
{
    public const string FileName = "teacher-cache.safetensors";
    public const string Format = "sharpseek-teacher-cache/1";
    private const string IdentityKey = "identity";

    /// <summary>Path of the cache file in <paramref name="dir"/>.</summary>
    public static string PathIn(string dir) => Path.Combine(dir, FileName);

    /// <summary>
    /// What a cache is built from: the format, per teacher the SHA-256 of its config.json and of its weights files (every
    /// *.safetensors / *.bin of the folder, by name) and its normalised weight, τ, k, the vocabulary size and the data
    /// (kind, block_size, SHA-256 fingerprint). Paths are not part of it: a moved teacher folder still matches.
    /// </summary>
    public static JsonObject Identity(IReadOnlyList<string> teacherDirs, IReadOnlyList<double> weights, double temperature, int topK,
                                      int vocabSize, string dataKind, int blockSize, string dataFingerprint)
    {
        var teachers = new JsonArray();
        for (int i = 0; i < teacherDirs.Count; i++)
            teachers.Add(new JsonObject
            {
                ["config_sha256"] = Sha256Files([Path.Combine(teacherDirs[i], "config.json")]),
                ["weights_sha256"] = Sha256Files(WeightFiles(teacherDirs[i])),
                ["weight"] = weights[i],
            });
        return new JsonObject
        {
            ["format"] = Format, ["teachers"] = teachers, ["temperature"] = temperature, ["top_k"] = topK, ["vocab_size"] = vocabSize,
            ["data"] = new JsonObject { ["kind"] = dataKind, ["block_size"] = blockSize, ["sha256"] = dataFingerprint },
        };
    }

    /// <summary>The first field (a dotted path) where <paramref name="stored"/> and <paramref name="expected"/> differ, or null when they are equal.</summary>
    public static string? Difference(JsonNode? stored, JsonNode? expected, string path = "")
    {
        if (stored is JsonObject a && expected is JsonObject b)
        {
            foreach (var key in a.Select(kv => kv.Key).Union(b.Select(kv => kv.Key)))
                if (Difference(a[key], b[key], path.Length == 0 ? key : $"{path}.{key}") is { } d) return d;
            return null;
        }
        if (stored is JsonArray x && expected is JsonArray y)
        {
            if (x.Count != y.Count) return $"{path} ({x.Count} entries in the cache, {y.Count} now)";
            for (int i = 0; i < x.Count; i++)
                if (Difference(x[i], y[i], $"{path}[{i}]") is { } d) return d;
            return null;
        }
        return JsonNode.DeepEquals(stored, expected) ? null
            : $"{path} (cache: {stored?.ToJsonString() ?? "none"}, now: {expected?.ToJsonString() ?? "none"})";
    }

    /// <summary>Writes the cache file atomically (temporary file, then rename).</summary>
    public static void Write(string path, JsonObject identity, TopKTargets train, TopKTargets val)
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["train.ids"] = train.Ids.to(ScalarType.Int32), ["train.log_probs"] = train.LogProbs.to(ScalarType.Float32),
            ["val.ids"] = val.Ids.to(ScalarType.Int32), ["val.log_probs"] = val.LogProbs.to(ScalarType.Float32),
        };
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { [IdentityKey] = identity.ToJsonString() });
    }

    /// <summary>The identity stored in the cache file at <paramref name="path"/>; throws <see cref="ConfigException"/> when it is not a teacher cache.</summary>
    public static JsonObject ReadIdentity(string path)
    {
        using var file = Open(path);
        return IdentityOf(file, path);
    }

    /// <summary>
    /// The train and val targets of the cache at <paramref name="path"/>, after checking that its identity equals
    /// <paramref name="expected"/>; throws <see cref="ConfigException"/> naming the first differing field otherwise.
    /// </summary>
    public static (TopKTargets Train, TopKTargets Val) Read(string path, JsonObject expected)
    {
        using var file = Open(path);
        var stored = IdentityOf(file, path);
        if (Difference(stored, expected) is { } d)
            throw new ConfigException($"teacher cache {path} was built for other teachers, temperature, top_k or data ({d}); give another distill.cache.dir or delete the file to rebuild it");
        foreach (var name in new[] { "train.ids", "train.log_probs", "val.ids", "val.log_probs" })
            if (!file.Contains(name)) throw new ConfigException($"teacher cache {path} has no tensor {name}");
        TopKTargets Split(string s) => new(file.Load($"{s}.ids").to(ScalarType.Int64), file.Load($"{s}.log_probs"));
        var train = Split("train");
        var val = Split("val");
        int k = stored["top_k"]!.GetValue<int>();
        if (train.K != k || val.K != k || train.Ids.shape[0] != train.LogProbs.shape[0] || val.Ids.shape[0] != val.LogProbs.shape[0])
            throw new ConfigException($"teacher cache {path}: its tensors do not have top_k = {k} columns and matching rows");
        return (train, val);
    }

    /// <summary>
    /// Top-k targets of the teachers' mixture for every position of <paramref name="sequences"/> (rows in sequence order, each
    /// sequence's positions in turn). Sequences run alone (batches of <paramref name="batchSize"/>, right-padded: causal attention
    /// never lets a position see the padding after it), the teachers under no_grad.
    /// </summary>
    public static TopKTargets Compute(IReadOnlyList<CausalLM> teachers, IReadOnlyList<double> weights, double temperature, int topK,
                                      IReadOnlyList<long[]> sequences, int batchSize, Action<int>? progress = null)
    {
        var idsParts = new List<Tensor>();
        var logProbParts = new List<Tensor>();
        using var _ = no_grad();
        foreach (var t in teachers) t.eval();
        for (int start = 0; start < sequences.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var batch = sequences.Skip(start).Take(batchSize).ToList();
            int length = batch.Max(s => s.Length);
            var flat = new long[batch.Count * length];
            for (int b = 0; b < batch.Count; b++) Array.Copy(batch[b], 0, flat, b * length, batch[b].Length);
            var input = tensor(flat, [batch.Count, length], device: teachers[0].Device);                          // (B, L)
            var logits = teachers.Select(m => m.Logits(input).reshape(-1, m.VocabSize)).ToList();                 // (B·L, V) each
            var (ids, logProbs) = DistillationMath.TopK(DistillationMath.MixtureLogProbs(logits, weights, temperature), topK);   // (B·L, k) each
            var keep = tensor(batch.SelectMany(s => Enumerable.Range(0, length).Select(i => i < s.Length)).ToArray());          // (B·L)
            var rows = keep.nonzero().squeeze(1);                                                                  // (Σ len)
            idsParts.Add(ids.index_select(0, rows).to(ScalarType.Int32).cpu().DetachFromDisposeScope());
            logProbParts.Add(logProbs.index_select(0, rows).cpu().DetachFromDisposeScope());
            progress?.Invoke(Math.Min(start + batchSize, sequences.Count));
        }
        var result = new TopKTargets(cat(idsParts, 0).to(ScalarType.Int64), cat(logProbParts, 0));
        foreach (var p in idsParts.Concat(logProbParts)) p.Dispose();
        return result;
    }

    /// <summary>Hex SHA-256 over the given files' bytes, in order (a missing file hashes as its name alone).</summary>
    public static string Sha256Files(IEnumerable<string> paths)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        foreach (var p in paths)
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(p) + "\n"));
            if (!File.Exists(p)) continue;
            using var s = File.OpenRead(p);
            int n;
            while ((n = s.Read(buffer, 0, buffer.Length)) > 0) sha.AppendData(buffer, 0, n);
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>Hex SHA-256 of a sequence of token arrays (lengths and ids): the fingerprint of encoded data.</summary>
    public static string Sha256Tokens(IEnumerable<IReadOnlyList<long>> sequences)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var s in sequences)
        {
            sha.AppendData(BitConverter.GetBytes((long)s.Count));
            foreach (var id in s) sha.AppendData(BitConverter.GetBytes(id));
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    private static IEnumerable<string> WeightFiles(string dir) =>
        Directory.EnumerateFiles(dir).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".bin", StringComparison.Ordinal))
                 .Where(f => !Path.GetFileName(f).StartsWith('.')).OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal);

    private static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"teacher cache {path} does not exist");
        try { return SafeTensorsFile.Open(path); }
        catch (Exception e) when (e is CheckpointException or InvalidDataException or IOException)
        { throw new ConfigException($"teacher cache {path} is not a readable safetensors file ({e.Message})"); }
    }

    private static JsonObject IdentityOf(SafeTensorsFile file, string path)
    {
        if (!file.Metadata.TryGetValue(IdentityKey, out var text)) throw new ConfigException($"{path} is not a teacher cache (no identity in its header)");
        JsonObject? identity;
        try { identity = JsonNode.Parse(text) as JsonObject; }
        catch (JsonException) { identity = null; }
        if (identity is null || identity["format"]?.GetValue<string>() != Format)
            throw new ConfigException($"{path} is not a teacher cache of format {Format}");
        return identity;
    }
}
