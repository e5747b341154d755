using System.Text;
using System.Text.Json;

namespace SharpSeek.Tokenization;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> with a byte-level BPE model (GPT-2, DeepSeek-V3, Llama-3 style; huggingface/tokenizers):
/// normalizer (none / NFC / NFD / NFKC / NFKD / Sequence), pre-tokenizer (ByteLevel, Split, Sequence), BPE model, added tokens.
/// </summary>
/// <remarks>
/// <see cref="Encode"/> follows Hugging Face's default: added tokens (special or not) that appear in the text are matched
/// as whole tokens before pre-tokenization. <see cref="EncodeOrdinary"/> treats them as plain text. Neither adds BOS/EOS;
/// <see cref="AddBosToken"/> reports what tokenizer_config.json asks for.
/// </remarks>
public sealed class HfTokenizer : ITextTokenizer
{
    private readonly BytePairModel _model;
    private readonly PreTokenizerPipeline _preTokenizer;
    private readonly NormalizationForm[] _normalizers;
    private readonly SpecialTokenSplitter _added;
    private readonly HashSet<int> _addedIds;
    private readonly Dictionary<int, string> _addedById;

    private HfTokenizer(BytePairModel model, PreTokenizerPipeline preTokenizer, NormalizationForm[] normalizers,
        Dictionary<string, int> added, Dictionary<string, int> special, SpecialTokenNames? config)
    {
        _model = model;
        _preTokenizer = preTokenizer;
        _normalizers = normalizers;
        _added = new SpecialTokenSplitter(added);
        _addedIds = [.. added.Values];
        _addedById = added.ToDictionary(a => a.Value, a => a.Key);
        SpecialTokens = special;
        VocabSize = Math.Max(model.IdCount, added.Count == 0 ? 0 : added.Values.Max() + 1);
        BosId = TokenizerFiles.ResolveId(config?.Bos, "bos_token", TryGetId);
        EosId = TokenizerFiles.ResolveId(config?.Eos, "eos_token", TryGetId);
        PadId = TokenizerFiles.ResolveId(config?.Pad, "pad_token", TryGetId);
        AddBosToken = config?.AddBosToken ?? false;
    }

    /// <summary>Loads <c>tokenizer.json</c> from <paramref name="dir"/> (and <c>tokenizer_config.json</c> if present).</summary>
    public static HfTokenizer FromFolder(string dir)
    {
        if (!Directory.Exists(dir)) throw new TokenizerException($"Tokenizer folder {dir} does not exist.");
        return FromFile(Path.Combine(dir, "tokenizer.json"), TokenizerFiles.ReadConfig(dir));
    }

    /// <summary>Loads one <c>tokenizer.json</c>; <paramref name="config"/> supplies bos/eos/pad names.</summary>
    public static HfTokenizer FromFile(string path, SpecialTokenNames? config = null)
    {
        using var doc = TokenizerFiles.ParseJson(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new TokenizerException($"{path} must be a JSON object.");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new TokenizerException($"{path} has no 'model' object.");
        var type = model.TryGetProperty("type", out var t) ? t.GetString() : "BPE";
        if (type != "BPE") throw new TokenizerException($"{path}: model type '{type}' is not supported (only byte-level BPE).");
        foreach (var key in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String && v.GetString()!.Length > 0)
                throw new TokenizerException($"{path}: model.{key} is not supported for byte-level BPE.");
        if (!model.TryGetProperty("vocab", out var vocabJson) || vocabJson.ValueKind != JsonValueKind.Object)
            throw new TokenizerException($"{path} has no 'model.vocab' object.");
        var vocab = TokenizerFiles.ReadVocabObject(vocabJson, path + " model.vocab");
        var merges = ReadMerges(model, path);
        var ignoreMerges = model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;

        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var special = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var addedJson) && addedJson.ValueKind == JsonValueKind.Array)
            foreach (var a in addedJson.EnumerateArray())
            {
                if (!a.TryGetProperty("id", out var idJson) || !idJson.TryGetInt32(out var id) || id < 0
                    || !a.TryGetProperty("content", out var contentJson) || contentJson.ValueKind != JsonValueKind.String)
                    throw new TokenizerException($"{path}: every added_tokens entry needs an integer 'id' and a string 'content'.");
                var content = contentJson.GetString()!;
                added[content] = id;
                if (a.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True) special[content] = id;
                if (vocab.TryGetValue(content, out var vocabId) && vocabId != id)
                    throw new TokenizerException($"{path}: added token '{content}' has id {id} but model.vocab gives it {vocabId}.");
            }
        var bpe = new BytePairModel(vocab, merges, ignoreMerges);
        var normalizers = root.TryGetProperty("normalizer", out var n) ? ReadNormalizer(n, path) : [];
        var pipeline = root.TryGetProperty("pre_tokenizer", out var pt) ? ReadPreTokenizer(pt, path) : null;
        if (pipeline is null || !pipeline.Value.HasByteLevel)
            throw new TokenizerException($"{path}: the pre_tokenizer has no ByteLevel step; only byte-level BPE tokenizers are supported.");
        return new HfTokenizer(bpe, new PreTokenizerPipeline(pipeline.Value.Steps), normalizers, added, special, config);
    }

    public int VocabSize { get; }
    public int? BosId { get; }
    public int? EosId { get; }
    public int? PadId { get; }
    /// <summary>tokenizer_config.json's <c>add_bos_token</c>: callers building model inputs should prepend <see cref="BosId"/>.</summary>
    public bool AddBosToken { get; }
    /// <summary>Added tokens flagged <c>special</c>.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens { get; }

    public int? TryGetId(string token) =>
        _added.Tokens.TryGetValue(token, out var a) ? a : _model.TryGetId(token, out var id) ? id : null;

    /// <summary>Ids of <paramref name="text"/>; added tokens in the text are matched as whole tokens (Hugging Face default).</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (var (offset, length, addedId) in _added.Split(text))
        {
            if (addedId is int id) ids.Add(id);
            else EncodeText(text.Substring(offset, length), ids);
        }
        return ids;
    }

    /// <summary>Ids of <paramref name="text"/> with added-token strings encoded as ordinary text.</summary>
    public IReadOnlyList<int> EncodeOrdinary(string text)
    {
        var ids = new List<int>();
        EncodeText(text, ids);
        return ids;
    }

    public string Decode(IEnumerable<int> ids) =>
        ByteLevelDecoder.Decode(ids, id => _addedById.TryGetValue(id, out var s) ? s : _model.TokenOf(id), _addedIds);

    /// <summary>The vocabulary string of <paramref name="id"/> (byte-level form for BPE tokens), or null.</summary>
    public string? TokenOf(int id) => _addedById.TryGetValue(id, out var s) ? s : _model.TokenOf(id);

    private void EncodeText(string text, List<int> ids)
    {
        if (text.Length == 0) return;
        foreach (var form in _normalizers) text = text.Normalize(form);
        foreach (var piece in _preTokenizer.SplitToStrings(text)) _model.EncodePiece(ByteLevel.FromText(piece), ids);
    }

    private static List<(string, string)> ReadMerges(JsonElement model, string path)
    {
        var merges = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var m) || m.ValueKind != JsonValueKind.Array)
            throw new TokenizerException($"{path} has no 'model.merges' array.");
        foreach (var e in m.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.String)
            {
                var parts = e.GetString()!.Split(' ');
                if (parts.Length != 2) throw new TokenizerException($"{path}: merge '{e.GetString()}' is not two tokens separated by one space.");
                merges.Add((parts[0], parts[1]));
            }
            else if (e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 2 && e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String))
                merges.Add((e[0].GetString()!, e[1].GetString()!));
            else throw new TokenizerException($"{path}: each merge must be \"a b\" or [\"a\", \"b\"], got {e.GetRawText()}.");
        }
        return merges;
    }

    private static NormalizationForm[] ReadNormalizer(JsonElement n, string path)
    {
        if (n.ValueKind == JsonValueKind.Null) return [];
        var type = n.TryGetProperty("type", out var t) ? t.GetString() : null;
        return type switch
        {
            "Sequence" when n.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array =>
                list.EnumerateArray().SelectMany(x => ReadNormalizer(x, path)).ToArray(),
            "NFC" => [NormalizationForm.FormC],
            "NFD" => [NormalizationForm.FormD],
            "NFKC" => [NormalizationForm.FormKC],
            "NFKD" => [NormalizationForm.FormKD],
            _ => throw new TokenizerException($"{path}: normalizer '{type}' is not supported."),
        };
    }

    private static (List<SplitStep> Steps, bool HasByteLevel)? ReadPreTokenizer(JsonElement p, string path)
    {
        if (p.ValueKind == JsonValueKind.Null) return null;
        var type = p.TryGetProperty("type", out var t) ? t.GetString() : null;
        switch (type)
        {
            case "Sequence":
            {
                if (!p.TryGetProperty("pretokenizers", out var list) || list.ValueKind != JsonValueKind.Array)
                    throw new TokenizerException($"{path}: Sequence pre_tokenizer has no 'pretokenizers' array.");
                var steps = new List<SplitStep>();
                var byteLevel = false;
                foreach (var item in list.EnumerateArray())
                    if (ReadPreTokenizer(item, path) is { } sub) { steps.AddRange(sub.Steps); byteLevel |= sub.HasByteLevel; }
                return (steps, byteLevel);
            }
            case "ByteLevel":
            {
                var prefix = p.TryGetProperty("add_prefix_space", out var a) && a.ValueKind == JsonValueKind.True;
                var useRegex = !p.TryGetProperty("use_regex", out var r) || r.ValueKind != JsonValueKind.False;
                var step = useRegex ? PreTokenizerPipeline.Gpt2Step() with { AddPrefixSpace = prefix } : new SplitStep(null, SplitBehavior.Isolated, false, prefix);
                return ([step], true);
            }
            case "Split":
            {
                if (!p.TryGetProperty("pattern", out var pattern) || pattern.ValueKind != JsonValueKind.Object)
                    throw new TokenizerException($"{path}: Split pre_tokenizer has no 'pattern' object.");
                string regex = pattern.TryGetProperty("Regex", out var re) && re.ValueKind == JsonValueKind.String ? re.GetString()!
                    : pattern.TryGetProperty("String", out var s) && s.ValueKind == JsonValueKind.String ? System.Text.RegularExpressions.Regex.Escape(s.GetString()!)
                    : throw new TokenizerException($"{path}: Split pattern must have a string 'Regex' or 'String'.");
                var behaviorName = p.TryGetProperty("behavior", out var b) ? b.GetString() : "Isolated";
                if (!Enum.TryParse<SplitBehavior>(behaviorName, out var behavior))
                    throw new TokenizerException($"{path}: Split behavior '{behaviorName}' is not supported.");
                var invert = p.TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True;
                return ([new SplitStep(new CodePointRegex(regex), behavior, invert)], false);
            }
            default:
                throw new TokenizerException($"{path}: pre_tokenizer '{type}' is not supported (ByteLevel, Split and Sequence are).");
        }
    }
}
