using SharpSeek.Checkpoints;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SharpSeek.Tokenization;

/// <summary>
/// The byte-level tokenizer <c>sharpseek init</c> writes when a model's vocabulary is too small for GPT-2's BPE: one token per
/// byte (id = byte value, in GPT-2's byte-level alphabet) and <c>&lt;|endoftext|&gt;</c> = 256 as BOS and EOS, stored as a
/// Hugging Face <c>tokenizer.json</c> (BPE with no merges, ByteLevel pre-tokenizer and decoder) + <c>tokenizer_config.json</c>,
/// so <see cref="HfTokenizer"/> and Hugging Face tokenizers both open it. Any text encodes; it fits every vocab_size ≥ 257.
/// </summary>
public static class ByteTokenizerFiles
{
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Number of ids: 256 bytes + <see cref="EndOfText"/>.</summary>
    public const int VocabSize = 257;

    /// <summary>Writes tokenizer.json and tokenizer_config.json into <paramref name="dir"/> (each atomically).</summary>
    public static void Write(string dir)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteLevel.ByteToChar[b].ToString()] = b;
        var byteLevel = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true };
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray(new JsonObject
            {
                ["id"] = 256, ["content"] = EndOfText, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = byteLevel.DeepClone(),
            ["post_processor"] = null,
            ["decoder"] = byteLevel.DeepClone(),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false,
                ["vocab"] = vocab, ["merges"] = new JsonArray(),
            },
        };
        var config = new JsonObject
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast", ["bos_token"] = EndOfText, ["eos_token"] = EndOfText,
            ["unk_token"] = null, ["add_bos_token"] = false, ["add_eos_token"] = false,
        };
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        AtomicFiles.WriteText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString(options));
        AtomicFiles.WriteText(Path.Combine(dir, "tokenizer_config.json"), config.ToJsonString(options));
    }
}
