using SharpSeek.Generation;
using SharpSeek.Models.Common;
using SharpSeek.Tests.Data;
using SharpSeek.Tests.Generation;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Tests.Models.Common;

public class VocabGrowthTests
{
    private static Tensor TokenRows(CausalLM model, string suffix) =>
        model.named_parameters().Single(p => p.name.EndsWith(suffix, StringComparison.Ordinal)).parameter;

    [Theory]
    [InlineData(TestModels.Gpt2, "wte.weight", null)]
    [InlineData(TestModels.DeepSeek, "embed_tokens.weight", "lm_head.weight")]
    public void Grow_TinyModel_OldLogitsUnchangedAndNewRowsDistinctAroundTheMean(string family, string embedding, string? head)
    {
        using var scope = torch.NewDisposeScope();
        var model = TestModels.Create(family, vocabSize: 40);
        var ids = torch.tensor(new long[] { 1, 5, 39, 0, 7 }).reshape(1, 5);
        var before = model.Logits(ids).detach().clone();                                           // (1, 5, 40)
        var embMean = TokenRows(model, embedding).mean([0]).detach().clone();
        var embStd = TokenRows(model, embedding).std([0]).detach().clone();
        var headMean = head is null ? embMean : TokenRows(model, head).mean([0]).detach().clone();
        var headStd = head is null ? embStd : TokenRows(model, head).std([0]).detach().clone();
        torch.manual_seed(7);

        VocabGrowth.Grow(model, 43);

        Assert.Equal(43, model.VocabSize);
        Assert.Equal(new long[] { 43, 32 }, TokenRows(model, embedding).shape);
        Assert.Equal(43, model.OutputHead.OutFeatures);
        var after = model.Logits(ids);                                                             // (1, 5, 43)
        Assert.Equal(new long[] { 1, 5, 43 }, after.shape);
        Assert.True(after[TensorIndex.Ellipsis, TensorIndex.Slice(0, 40)].eq(before).all().item<bool>(), "logits of the old tokens changed");
        // new rows: mean + σ ⊙ z, z the first draws of the seeded generator (embedding, then head when untied)
        torch.manual_seed(7);
        var zEmb = torch.randn(3, 32);
        var zHead = head is null ? zEmb : torch.randn(3, 32);
        for (int r = 40; r < 43; r++)
        {
            Assert.True(TokenRows(model, embedding)[r].allclose(embMean + embStd * zEmb[r - 40], 1e-5, 1e-6), $"embedding row {r} is not mean + σ·z");
            Assert.True(model.OutputHead.Weight[r].allclose(headMean + headStd * zHead[r - 40], 1e-5, 1e-6), $"head row {r} is not mean + σ·z");
        }
        Assert.False(TokenRows(model, embedding)[40].allclose(TokenRows(model, embedding)[41]), "two new rows are equal");
        Assert.True(TokenRows(model, embedding).requires_grad);
    }

    [Fact]
    public void Grow_ThenNewTokenInInput_RunsAndSavedConfigHasNewVocab()
    {
        using var scope = torch.NewDisposeScope();
        using var dir = new TempDir();
        var model = TestModels.Create(TestModels.DeepSeek, vocabSize: 40);
        VocabGrowth.Grow(model, 42);
        var logits = model.Logits(torch.tensor(new long[] { 41, 40, 3 }).reshape(1, 3));
        Assert.Equal(new long[] { 1, 3, 42 }, logits.shape);
        model.SavePretrained(dir.Path);
        Assert.Contains("\"vocab_size\": 42", File.ReadAllText(Path.Combine(dir.Path, "config.json")));
    }

    [Fact]
    public void Grow_Smaller_ThrowsConfigException()
    {
        var model = TestModels.Create(TestModels.Gpt2, vocabSize: 40);
        Assert.Throws<ConfigException>(() => VocabGrowth.Grow(model, 39));
    }

    /// <summary>Adds +50 to one column of the output head: the model then always prefers that token.</summary>
    private sealed class FavourToken(int id, int vocab) : IProjectionAdapter
    {
        public Tensor Forward(Tensor x)
        {
            var bias = torch.zeros(vocab, dtype: x.dtype);
            bias[id] = 50;
            return bias.expand([.. x.shape[..^1], vocab]);
        }

        public Tensor EffectiveWeight(Tensor baseWeight) => throw new NotSupportedException();
    }

    [Theory]
    [InlineData(TestModels.Gpt2)]
    [InlineData(TestModels.DeepSeek)]
    public void ForChat_ModelFavouringEndOfTurn_GenerationStopsThere(string family)
    {
        using var scope = torch.NewDisposeScope();
        using var dir = new TempDir();
        ByteTokenizerFiles.Write(dir.Path);
        var template = ChatTemplates.ChatMl;
        var tokenizer = template.WithSpecialTokens(HfTokenizer.FromFolder(dir.Path));
        var model = TestModels.Create(family, vocabSize: ByteTokenizerFiles.VocabSize);
        VocabGrowth.Grow(model, tokenizer.VocabSize);
        int eot = template.EndOfTurnId(tokenizer);
        Assert.Equal(258, eot);
        model.OutputHead.Adapter = new FavourToken(eot, tokenizer.VocabSize);
        var prompt = template.RenderIds(tokenizer, [new("user", "hi")], addGenerationPrompt: true);

        var stopped = new SharpSeek.Generation.Generator(model, tokenizer).Generate([prompt], template.ForChat(tokenizer, new GenerationOptions { MaxNewTokens = 10 }))[0];
        var unstopped = new SharpSeek.Generation.Generator(model, tokenizer).Generate([prompt], new GenerationOptions { MaxNewTokens = 10, EosTokenId = [] })[0];

        Assert.Equal(FinishReason.EndOfSequence, stopped.FinishReason);
        Assert.Empty(stopped.TokenIds);
        Assert.Equal(FinishReason.Length, unstopped.FinishReason);
        Assert.Equal(Enumerable.Repeat(eot, 10), unstopped.TokenIds);
    }
}
