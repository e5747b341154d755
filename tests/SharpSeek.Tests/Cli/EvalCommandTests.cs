using SharpSeek.Data;
using SharpSeek.Tests.TestSupport;
using SharpSeek.Tokenization;

namespace SharpSeek.Tests.Cli;

public class EvalCommandTests
{
    private const string Text = "to be or not to be, that is the question.\nwhether 'tis nobler in the mind to suffer\n";

    /// <summary>A tiny random GPT-2 folder that also holds a char tokenizer built from <see cref="Text"/>.</summary>
    private static (string ModelDir, CharTokenizer Tokenizer) CharModel(TempDir tmp)
    {
        var tokenizer = CharTokenizer.FromCorpus(Text);
        string json = """{"model_type": "gpt2", "vocab_size": 64, "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2}""";
        (SharpSeek.Models.ModelFactory.CreateAndSave(json, tmp["model"]) as IDisposable)?.Dispose();
        tokenizer.Save(Path.Combine(tmp["model"], CharTokenizer.FileName));
        return (tmp["model"], tokenizer);
    }

    [Fact]
    public void Eval_RawTextFile_MatchesPreparedFolderWithSameTokens()
    {
        using var tmp = new TempDir();
        var (modelDir, tokenizer) = CharModel(tmp);
        string textFile = tmp["text.txt"];
        File.WriteAllText(textFile, Text);
        var ids = tokenizer.Encode(Text);
        Directory.CreateDirectory(tmp["data"]);
        File.WriteAllBytes(Path.Combine(tmp["data"], "train.bin"), ids.SelectMany(i => BitConverter.GetBytes((ushort)i)).ToArray());
        File.WriteAllBytes(Path.Combine(tmp["data"], "val.bin"), ids.SelectMany(i => BitConverter.GetBytes((ushort)i)).ToArray());
        File.WriteAllText(Path.Combine(tmp["data"], "meta.json"),
            new TokenDataMeta { VocabSize = tokenizer.VocabSize, TrainTokens = ids.Count, ValTokens = ids.Count }.ToJson());

        var fromText = CliHarness.Run("eval", "--model", modelDir, "--data", textFile);
        var fromFolder = CliHarness.Run("eval", "--model", modelDir, "--data", tmp["data"]);

        Assert.True(fromText.ExitCode == 0, fromText.Stderr);
        Assert.Contains($"tokens {ids.Count - 1}", fromText.Stdout);
        Assert.Equal(fromFolder.Stdout, fromText.Stdout);
    }

    [Fact]
    public void Eval_TextWithCharacterOutsideVocabulary_ExitsTwo()
    {
        using var tmp = new TempDir();
        var (modelDir, _) = CharModel(tmp);
        File.WriteAllText(tmp["text.txt"], "QQQ ZZZ");
        var r = CliHarness.Run("eval", "--model", modelDir, "--data", tmp["text.txt"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.TrimEnd().Split('\n'));
    }

    [Fact]
    public void Eval_TextButModelFolderHasNoTokenizer_ExitsTwo()
    {
        using var tmp = new TempDir();
        string json = """{"model_type": "gpt2", "vocab_size": 64, "n_positions": 16, "n_embd": 16, "n_layer": 1, "n_head": 2}""";
        (SharpSeek.Models.ModelFactory.CreateAndSave(json, tmp["model"]) as IDisposable)?.Dispose();
        File.WriteAllText(tmp["text.txt"], Text);
        var r = CliHarness.Run("eval", "--model", tmp["model"], "--data", tmp["text.txt"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("tokenizer", r.Stderr);
    }
}
