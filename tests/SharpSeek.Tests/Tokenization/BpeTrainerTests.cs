using System.Text;
using Microsoft.ML.Tokenizers;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Tokenization;

public sealed class BpeTrainerTests
{
    private static readonly string[] s_chinese = ["我们", "今天", "天气", "很好", "学习", "语言", "模型", "训练", "数据", "中文", "分词器", "深度", "求索", "春眠不觉晓", "处处闻啼鸟"];
    private static readonly Lazy<string> s_corpus = new(BuildCorpus);

    /// <summary>~200 KB, seeded: sentences of GPT-2 vocabulary words, digits, code-ish lines, Chinese phrases and the special token.</summary>
    private static string BuildCorpus()
    {
        var words = TokenizerFiles.ReadVocab(Path.Combine(TokenizerCases.FirstCaseDir(), "vocab.json"))
            .Where(kv => kv.Key.Length > 2 && kv.Key[0] == 'Ġ' && kv.Key.Skip(1).All(char.IsAsciiLetterLower))
            .OrderBy(kv => kv.Value).Take(800).Select(kv => kv.Key[1..]).ToArray();
        var rng = new Random(1234);
        var sb = new StringBuilder();
        while (sb.Length < 200_000)
        {
            var n = rng.Next(4, 14);
            for (var i = 0; i < n; i++)
            {
                // Zipf-like: small indices far more often.
                var w = words[(int)(Math.Pow(rng.NextDouble(), 3) * words.Length)];
                sb.Append(i == 0 ? char.ToUpperInvariant(w[0]) + w[1..] : " " + w);
            }
            sb.Append(rng.Next(5) switch { 0 => $", {rng.Next(1000)} items.\n", 1 => ".\n\n", 2 => "? It's fine.\n", _ => ". " });
            if (rng.Next(6) == 0)
                for (var i = rng.Next(2, 8); i > 0; i--) sb.Append(s_chinese[(int)(Math.Pow(rng.NextDouble(), 2) * s_chinese.Length)]).Append(i == 1 ? "。\n" : "，");
            if (rng.Next(40) == 0) sb.Append("    return x ** 2  # square\n<|endoftext|>");
        }
        return sb.ToString();
    }

    private const string HeldOut = "Unseen words: zyxt qwv! It's 2024; naïve café — 你好，世界。分词器训练 🤗👩‍👩‍👧 \U0001D518\r\n\ttab  end  ";

    private static BpeTrainingResult Train(int vocabSize, params string[] specials)
    {
        var trainer = new BpeTrainer(new BpeTrainerOptions { VocabSize = vocabSize, SpecialTokens = specials, EosToken = specials.FirstOrDefault() });
        trainer.AddText(s_corpus.Value);
        return trainer.Train();
    }

    [Fact]
    public void Train_SmallCorpus_MergeCountIsVocabMinusBytesMinusSpecials()
    {
        var result = Train(600, "<|endoftext|>", "<pad>");
        Assert.Equal(600, result.Vocab.Count);
        Assert.Equal(600 - 256 - 2, result.Merges.Count);
        Assert.Equal(0, result.Vocab["<|endoftext|>"]);
        Assert.Equal(1, result.Vocab["<pad>"]);
    }

    [Fact]
    public void Train_CorpusWithSpecialToken_NeverLearnsFromIt()
    {
        var result = Train(600, "<|endoftext|>");
        Assert.DoesNotContain(result.Vocab.Keys, k => k != "<|endoftext|>" && k.Contains("endoftext"));
    }

    [Fact]
    public void Train_ChineseInCorpus_LearnsMultiCharacterChineseTokens()
    {
        using var tmp = new TempDir();
        Train(600).Save(tmp.Path);
        var tok = HfTokenizer.FromFolder(tmp.Path);
        Assert.Contains(Enumerable.Range(0, tok.VocabSize), id => tok.Decode([id]) is { Length: >= 2 } s && s.All(c => c >= '\u4E00' && c <= '\u9FFF'));
        Assert.True(tok.Encode("分词器").Count < Encoding.UTF8.GetByteCount("分词器"));
    }

    [Fact]
    public void SaveAndReload_HfTokenizer_RoundTripsArbitraryText()
    {
        using var tmp = new TempDir();
        Train(600, "<|endoftext|>").Save(tmp.Path);
        var tok = HfTokenizer.FromFolder(tmp.Path);
        Assert.Equal(0, tok.EosId);
        foreach (var text in new[] { HeldOut, s_corpus.Value[..5000], "", "<|endoftext|>x", "\u00A0\u3000 ", "\U0001F600" })
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
    }

    [Fact]
    public void SaveAndReload_HfTokenizerGpt2TokenizerAndMicrosoftML_GiveIdenticalIds()
    {
        using var tmp = new TempDir();
        Train(700, "<|endoftext|>").Save(tmp.Path);
        var hf = HfTokenizer.FromFolder(tmp.Path);
        var gpt2 = Gpt2Tokenizer.FromFolder(tmp.Path);   // reads vocab.json + merges.txt
        var ml = BpeTokenizer.Create(new BpeOptions(tmp["vocab.json"], tmp["merges.txt"])
        {
            ByteLevel = true,
            PreTokenizer = new CodePointPreTokenizer(PreTokenizerPipeline.Gpt2()),
        });
        var text = HeldOut + s_corpus.Value[..20_000].Replace("<|endoftext|>", "");
        var expected = hf.Encode(text);
        Assert.True(expected.Count < Encoding.UTF8.GetByteCount(text) / 2);
        Assert.Equal(expected, gpt2.Encode(text));
        Assert.Equal(expected, ml.EncodeToIds(text));
    }

    [Fact]
    public void Train_IncrementalPairCounts_SameMergesAsNaiveRecount()
    {
        var corpus = s_corpus.Value[..30_000];
        var trainer = new BpeTrainer(new BpeTrainerOptions { VocabSize = 400 });
        trainer.AddText(corpus);
        Assert.Equal(NaiveMerges(corpus, 400 - 256), trainer.Train().Merges);
    }

    [Fact]
    public void AddFile_SmallChunks_SameMergesAsWholeText()
    {
        using var tmp = new TempDir();
        var corpus = s_corpus.Value[..50_000];
        File.WriteAllText(tmp["corpus.txt"], corpus);
        var whole = new BpeTrainer(new BpeTrainerOptions { VocabSize = 400 });
        whole.AddText(corpus);
        var chunked = new BpeTrainer(new BpeTrainerOptions { VocabSize = 400 });
        chunked.AddFile(tmp["corpus.txt"], chunkChars: 1000);
        Assert.Equal(whole.DistinctWords, chunked.DistinctWords);
        Assert.Equal(whole.Train().Merges, chunked.Train().Merges);
    }

    [Fact]
    public void Options_VocabSmallerThanBytesPlusSpecials_ThrowsTokenizerException()
    {
        var e = Assert.Throws<TokenizerException>(() => new BpeTrainer(new BpeTrainerOptions { VocabSize = 257, SpecialTokens = ["<a>", "<b>"] }));
        Assert.Contains("at least 258", e.Message);
    }

    [Fact]
    public void Options_VocabLargerThanAllowed_ThrowsTokenizerException()
    {
        var e = Assert.Throws<TokenizerException>(() => new BpeTrainer(new BpeTrainerOptions { VocabSize = BpeTrainerOptions.MaxVocabSize + 1 }));
        Assert.Contains("maximum", e.Message);
    }

    [Fact]
    public void TrainOnFiles_MissingFile_ThrowsTokenizerException()
    {
        var e = Assert.Throws<TokenizerException>(() => BpeTrainer.TrainOnFiles(["/nonexistent/corpus.txt"], new BpeTrainerOptions()));
        Assert.Contains("/nonexistent/corpus.txt", e.Message);
    }

    [Fact]
    public void Train_EmptyCorpus_ThrowsTokenizerException()
    {
        var trainer = new BpeTrainer(new BpeTrainerOptions { VocabSize = 300 });
        trainer.AddText("");
        Assert.Throws<TokenizerException>(trainer.Train);
    }

    [Fact]
    public void EnsureFitsModel_TokenizerLargerThanModelVocab_ThrowsTokenizerException()
    {
        var tok = CharTokenizer.FromCorpus("abcdef");
        tok.EnsureFitsModel(6);
        var e = Assert.Throws<TokenizerException>(() => tok.EnsureFitsModel(5));
        Assert.Contains("vocab_size", e.Message);
    }

    /// <summary>Reference BPE training: recount every pair of every word before each merge (slow, obviously right).</summary>
    private static List<(string, string)> NaiveMerges(string corpus, int mergeCount)
    {
        var counts = new Dictionary<string, int>();
        foreach (var piece in PreTokenizerPipeline.Gpt2().SplitToStrings(corpus)) counts[piece] = counts.GetValueOrDefault(piece) + 1;
        var tokens = Enumerable.Range(0, 256).Select(b => ByteLevel.ByteToChar[b].ToString()).ToList();
        var words = counts.Select(kv => (Symbols: Encoding.UTF8.GetBytes(kv.Key).Select(b => (int)b).ToList(), Count: kv.Value)).ToList();
        var merges = new List<(string, string)>();
        for (var m = 0; m < mergeCount; m++)
        {
            var pairs = new Dictionary<(int, int), long>();
            foreach (var (s, c) in words)
                for (var i = 0; i + 1 < s.Count; i++) pairs[(s[i], s[i + 1])] = pairs.GetValueOrDefault((s[i], s[i + 1])) + c;
            var best = pairs.Where(p => p.Value >= 2).OrderByDescending(p => p.Value).ThenBy(p => p.Key.Item1).ThenBy(p => p.Key.Item2).First().Key;
            var text = tokens[best.Item1] + tokens[best.Item2];
            var id = tokens.IndexOf(text);
            if (id < 0) { id = tokens.Count; tokens.Add(text); }
            merges.Add((tokens[best.Item1], tokens[best.Item2]));
            foreach (var (s, _) in words)
                for (var i = 0; i + 1 < s.Count; i++)
                    if (s[i] == best.Item1 && s[i + 1] == best.Item2) { s[i] = id; s.RemoveAt(i + 1); }
        }
        return merges;
    }
}
