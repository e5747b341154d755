using System.Text.Json.Nodes;
using SharpSeek.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training;

/// <summary>The models <c>sharpseek train</c> builds: any registered family from the config's shape (nanoGPT's model args), a pretrained folder (init_from), or a checkpoint.</summary>
public static class TrainingModels
{
    /// <summary>A <see cref="ModelBuilder"/> for <paramref name="config"/>; the vocabulary defaults to the data's, rounded up to a multiple of 64.</summary>
    public static ModelBuilder For(TrainConfig config, int dataVocabSize) => checkpointDir =>
    {
        if (checkpointDir is not null) return ModelLoader.Load(checkpointDir);
        if (config.InitFrom is not null) return ModelLoader.Load(config.InitFrom);
        ModelFamily family;
        try { family = ModelFamilies.Get(config.Arch); }
        catch (ConfigException) { throw new ConfigException($"arch '{config.Arch}' cannot be trained from scratch (supported: {string.Join(", ", ModelFamilies.All.Select(f => f.Alias))})"); }
        string json = ConfigJson(family, config, dataVocabSize);
        try { return family.Create(json); }
        catch (ConfigException e) { throw new ConfigException($"{family.Alias} model from preset '{config.ModelPreset}' and the training config: {e.Message}"); }
    };

    private static int Vocab(TrainConfig c, int dataVocabSize) => c.VocabSize > 0 ? c.VocabSize : (dataVocabSize + 63) / 64 * 64;

    /// <summary>The family-neutral shape of <paramref name="c"/>: nanoGPT's model args, the preset, the <c>model</c> keys, γ, α, λ and D.</summary>
    public static ModelShape Shape(TrainConfig c, int dataVocabSize) =>
        new(Vocab(c, dataVocabSize), c.BlockSize, c.NLayer, c.NHead, c.NEmbd, c.Dropout, c.ModelPreset, c.Model?.DeepClone().AsObject(),
            c.BiasUpdateSpeed, c.AuxLossAlpha, c.MtpLossWeight, c.MtpDepth);

    private static string ConfigJson(ModelFamily family, TrainConfig c, int dataVocabSize)
    {
        try { return family.TrainingConfigJson(Shape(c, dataVocabSize)); }
        catch (ConfigException e) { throw new ConfigException($"{family.Alias} model from preset '{c.ModelPreset}' and the training config: {e.Message}"); }
    }
}
