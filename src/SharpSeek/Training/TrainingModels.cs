using System.Text.Json.Nodes;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training;

/// <summary>The models <c>sharpseek train</c> builds: any registered family from the config's shape (nanoGPT's model args), a pretrained folder (init_from), or a checkpoint.</summary>
public static class TrainingModels
{
    /// <summary>
    /// A <see cref="ModelBuilder"/> for <paramref name="config"/>; the vocabulary defaults to the data's, rounded up to a
    /// multiple of 64. A model with fewer than <paramref name="tokenizerVocabSize"/> token rows (a chat template's special
    /// tokens added to its tokenizer) grows to that many (<see cref="VocabGrowth"/>). With <c>lora</c> set the model is
    /// wrapped in a <see cref="LoraCausalLM"/> (only the adapters train); a checkpoint holding adapter files reloads them.
    /// An init_from folder holding adapter files is its base with the adapters merged in. When the
    /// <paramref name="addedTokens"/> last ids of the tokenizer fall in rows the model already has (padding rows of a vocabulary
    /// rounded up), a fresh build draws those rows afresh (<see cref="VocabGrowth.RedrawRows"/>).
    /// </summary>
    public static ModelBuilder For(TrainConfig config, int dataVocabSize, int tokenizerVocabSize = 0, int addedTokens = 0) => checkpointDir =>
    {
        var model = Build(config, dataVocabSize, checkpointDir);
        if (checkpointDir is null && addedTokens > 0 && tokenizerVocabSize <= model.VocabSize)
            VocabGrowth.RedrawRows(model, tokenizerVocabSize - addedTokens, tokenizerVocabSize);   // the added tokens took padding rows
        if (tokenizerVocabSize > model.VocabSize) VocabGrowth.Grow(model, tokenizerVocabSize);
        if (config.Lora is null) return model;
        if (checkpointDir is not null && HasAdapter(checkpointDir)) return LoraCausalLM.Load(model, checkpointDir);
        return LoraCausalLM.Attach(model, config.Lora);
    };

    /// <summary>True when <paramref name="dir"/> holds LoRA adapter files (adapter_config.json).</summary>
    public static bool HasAdapter(string dir) => File.Exists(Path.Combine(dir, LoraAdapters.ConfigFile));

    /// <summary><paramref name="dir"/>'s model; with adapter files there, the base with the adapters merged into its weights.</summary>
    public static CausalLM LoadMerged(string dir)
    {
        var model = ModelLoader.Load(dir);
        if (HasAdapter(dir))
        {
            using var adapters = LoraAdapters.Load(model, dir);
            adapters.MergeAndUnload();
        }
        return model;
    }

    private static CausalLM Build(TrainConfig config, int dataVocabSize, string? checkpointDir)
    {
        if (checkpointDir is not null) return config.Lora is not null ? ModelLoader.Load(checkpointDir) : LoadMerged(checkpointDir);
        if (config.InitFrom is not null) return LoadMerged(config.InitFrom);
        ModelFamily family;
        try { family = ModelFamilies.Get(config.Arch); }
        catch (ConfigException) { throw new ConfigException($"arch '{config.Arch}' cannot be trained from scratch (supported: {string.Join(", ", ModelFamilies.All.Select(f => f.Alias))})"); }
        string json = ConfigJson(family, config, dataVocabSize);
        try { return family.Create(json); }
        catch (ConfigException e) { throw new ConfigException($"{family.Alias} model from preset '{config.ModelPreset}' and the training config: {e.Message}"); }
    }

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
