using System.Text.Json;
using SharpSeek.Data.Preference;
using SharpSeek.Models.Common;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Training.Objectives;

/// <summary>Tiny models of both families with a ChatML byte tokenizer, and toy preference pairs, for the reward-model and DPO tests.</summary>
internal static class PreferenceTestData
{
    /// <summary>257 byte ids + the ChatML tokens, rounded up.</summary>
    public const int Vocab = 272;

    public static CausalLM TinyModel(string family, int seed = 1)
    {
        manual_seed(seed);
        return family switch
        {
            "gpt2" => new Gpt2LMHeadModel(new Gpt2Config { VocabSize = Vocab, NPositions = 64, NEmbd = 32, NLayer = 2, NHead = 4 }),
            "deepseek" => new DeepSeekV3ForCausalLM(new DeepSeekV3Config
            {
                VocabSize = Vocab, HiddenSize = 32, IntermediateSize = 64, MoeIntermediateSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2,
                NumKeyValueHeads = 2, NRoutedExperts = 4, NGroup = 2, TopkGroup = 1, NumExpertsPerTok = 2, KvLoraRank = 16, QLoraRank = null,
                QkRopeHeadDim = 8, QkNopeHeadDim = 8, VHeadDim = 8, MaxPositionEmbeddings = 64,
            }),
            _ => throw new ArgumentException(family),
        };
    }

    /// <summary>A model folder: the tiny model + the byte tokenizer with ChatML's special tokens (or without, <paramref name="chatTokens"/> false).</summary>
    public static string ModelFolder(string dir, string family, bool chatTokens = true, int seed = 1)
    {
        using var model = TinyModel(family, seed);
        model.SavePretrained(dir);
        string tok = dir + "-tok";
        ByteTokenizerFiles.Write(chatTokens ? tok : dir);
        if (chatTokens) { AddedTokenFiles.Write(tok, dir, ChatTemplates.ChatMl.SpecialTokens); Directory.Delete(tok, recursive: true); }
        return dir;
    }

    /// <summary>The tokenizer of <see cref="ModelFolder"/>.</summary>
    public static ITextTokenizer Tokenizer(string modelDir) => TokenizerLoader.Load(modelDir);

    /// <summary>
    /// <paramref name="n"/> toy pairs: a short random prompt; the chosen answer is a random word ending in '!', the rejected
    /// one a random word ending in '.' (the preference is "answers with token '!'").
    /// </summary>
    public static string[] ToyLines(int n, int seed = 7)
    {
        var rng = new Random(seed);
        string Word() => new(Enumerable.Range(0, rng.Next(2, 5)).Select(_ => (char)('a' + rng.Next(6))).ToArray());
        return Enumerable.Range(0, n).Select(_ =>
            JsonSerializer.Serialize(new { prompt = Word(), chosen = Word() + "!", rejected = Word() + "." })).ToArray();
    }

    public static string WriteJsonl(string path, IEnumerable<string> lines)
    {
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>Encoded train/held-out batches of <see cref="ToyLines"/> for <paramref name="tokenizer"/>.</summary>
    public static PreferenceBatches ToyBatches(ITextTokenizer tokenizer, int train, int val, ulong seed = 1)
    {
        EncodedPair Enc(string line, int i) => PreferenceEncoding.Encode(ChatTemplates.ChatMl, tokenizer, PreferenceJsonl.Parse(line, $"toy:{i}"), 64);
        return new PreferenceBatches(ToyLines(train, 7).Select(Enc).ToList(), ToyLines(val, 8).Select(Enc).ToList(), seed);
    }
}
