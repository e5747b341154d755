using System.Text.Json;
using SharpSeek.Tokenization;

namespace SharpSeek.Checkpoints.Gguf;

/// <summary>
/// A model folder's tokenizer as llama.cpp's <c>tokenizer.ggml.*</c> metadata: model "gpt2" (byte-level BPE), pre-tokenizer
/// "gpt-2", tokens in their byte-level spelling by id, token types, merges "left right" by rank, BOS/EOS ids. Ids the
/// tokenizer lacks below the model's vocab_size become "[PAD{id}]" tokens of type UNUSED (as convert_hf_to_gguf.py does).
/// </summary>
public sealed record GgufVocab(IReadOnlyList<string> Tokens, IReadOnlyList<int> TokenTypes, IReadOnlyList<string> Merges, int? BosId, int? EosId, bool AddBos)
{
    /// <summary>llama.cpp's <c>llama_token_type</c>: NORMAL 1, CONTROL 3, USER_DEFINED 4, UNUSED 5.</summary>
    public const int Normal = 1, Control = 3, UserDefined = 4, Unused = 5;

    /// <summary>The llama.cpp pre-tokenizer whose split regex is GPT-2's (<see cref="PreTokenizerPipeline.Gpt2Pattern"/>).</summary>
    public const string PreTokenizer = "gpt-2";

    /// <summary>
    /// Reads the tokenizer in <paramref name="dir"/> (tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe or
    /// char_vocab.json) for a model of <paramref name="vocabSize"/> ids. Throws <see cref="ConfigException"/> for a tokenizer
    /// llama.cpp's gpt2 BPE cannot reproduce, <see cref="TokenizerException"/> for a missing or broken one.
    /// </summary>
    public static GgufVocab Read(string dir, int vocabSize)
    {
        var tokenizer = TokenizerLoader.Load(dir);   // the same validation as every other command
        if (tokenizer.VocabSize > vocabSize)
            throw new ConfigException($"{dir}: the tokenizer has {tokenizer.VocabSize:N0} ids but the model's vocab_size is {vocabSize:N0}");
        var byId = new string?[vocabSize];
        var types = new int[vocabSize];
        var merges = new List<string>();
        bool addBos = false;
        switch (tokenizer)
        {
            case HfTokenizer hf:
                addBos = hf.AddBosToken;
                ReadTokenizerJson(Path.Combine(dir, "tokenizer.json"), byId, types, merges);
                break;
            case Gpt2Tokenizer:
                var (vocabPath, mergesPath) = Gpt2Tokenizer.FindFiles(dir)!.Value;
                foreach (var (token, id) in TokenizerFiles.ReadVocab(vocabPath)) Set(byId, types, id, token, token == Gpt2Tokenizer.EndOfText ? Control : Normal, vocabPath);
                merges.AddRange(TokenizerFiles.ReadMerges(mergesPath).Select(m => $"{m.Left} {m.Right}"));
                break;
            case CharTokenizer chars:
                for (int id = 0; id < chars.Chars.Count; id++)
                {
                    string c = chars.Chars[id];
                    if (c.Length != 1 || c[0] > 0x7F)
                        throw new ConfigException($"{dir}: the character vocabulary has '{c}' (U+{char.ConvertToUtf32(c, 0):X4}), which is not a single byte; "
                            + "llama.cpp's byte-level BPE can only express ASCII character vocabularies");
                    Set(byId, types, id, ByteLevel.ByteToChar[c[0]].ToString(), Normal, CharTokenizer.FileName);
                }
                break;
            default:
                throw new ConfigException($"{dir}: tokenizer type {tokenizer.GetType().Name} cannot be written as GGUF metadata");
        }
        var tokens = new string[vocabSize];
        for (int id = 0; id < vocabSize; id++)
        {
            if (byId[id] is { } t) tokens[id] = t;
            else { tokens[id] = $"[PAD{id}]"; types[id] = Unused; }
        }
        var duplicate = tokens.GroupBy(t => t, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ConfigException($"{dir}: token '{duplicate.Key}' appears under two ids; llama.cpp needs distinct token strings");
        return new GgufVocab(tokens, types, merges, tokenizer.BosId, tokenizer.EosId, addBos);
    }

    /// <summary>Writes the <c>tokenizer.ggml.*</c> keys.</summary>
    public void AddTo(GgufWriter w)
    {
        w.AddString("tokenizer.ggml.model", "gpt2");
        w.AddString("tokenizer.ggml.pre", PreTokenizer);
        w.AddStringArray("tokenizer.ggml.tokens", Tokens);
        w.AddInt32Array("tokenizer.ggml.token_type", TokenTypes);
        w.AddStringArray("tokenizer.ggml.merges", Merges);
        if (BosId is int bos) w.AddUInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        if (EosId is int eos) w.AddUInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        w.AddBool("tokenizer.ggml.add_bos_token", AddBos);
    }

    private static void Set(string?[] byId, int[] types, int id, string token, int type, string source)
    {
        if (id >= byId.Length) throw new ConfigException($"{source}: token '{token}' has id {id}, beyond the model's vocab_size {byId.Length}");
        byId[id] = token;
        types[id] = type;
    }

    /// <summary>tokenizer.json: model.vocab, model.merges and added_tokens; only a plain GPT-2-style ByteLevel pre-tokenizer maps to llama.cpp's "gpt-2".</summary>
    private static void ReadTokenizerJson(string path, string?[] byId, int[] types, List<string> merges)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        if (root.TryGetProperty("normalizer", out var n) && n.ValueKind != JsonValueKind.Null)
            throw new ConfigException($"{path}: a normalizer cannot be expressed in GGUF's gpt2 tokenizer (llama.cpp applies none)");
        var pre = root.GetProperty("pre_tokenizer");
        bool gpt2Style = pre.TryGetProperty("type", out var type) && type.GetString() == "ByteLevel"
            && !(pre.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.True)
            && !(pre.TryGetProperty("use_regex", out var ur) && ur.ValueKind == JsonValueKind.False);
        if (!gpt2Style)
            throw new ConfigException($"{path}: pre_tokenizer {pre.GetRawText()} has no llama.cpp equivalent here; only a ByteLevel pre-tokenizer with "
                + $"GPT-2's regex and no prefix space maps to llama.cpp's '{PreTokenizer}'");
        var model = root.GetProperty("model");
        foreach (var p in model.GetProperty("vocab").EnumerateObject()) Set(byId, types, p.Value.GetInt32(), p.Name, Normal, path);
        foreach (var m in model.GetProperty("merges").EnumerateArray())
            merges.Add(m.ValueKind == JsonValueKind.String ? m.GetString()! : $"{m[0].GetString()} {m[1].GetString()}");
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
            foreach (var a in added.EnumerateArray())
            {
                bool special = a.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                Set(byId, types, a.GetProperty("id").GetInt32(), a.GetProperty("content").GetString()!, special ? Control : UserDefined, path);
            }
    }
}
