using System.Text.Json.Nodes;
using SharpSeek.Models;
using SharpSeek.Models.DeepSeek;
using SharpSeek.Models.Gpt2;
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
        catch (ConfigException e) when (family.ModelType == "deepseek_v3")
        { throw new ConfigException($"deepseek model from preset '{config.ModelPreset}' and the training config: {e.Message}"); }
    };

    private static int Vocab(TrainConfig c, int dataVocabSize) => c.VocabSize > 0 ? c.VocabSize : (dataVocabSize + 63) / 64 * 64;

    /// <summary>Training-config keys that set DeepSeek-V3 config keys (γ, α, λ, D), so <c>model</c> must not set those.</summary>
    private static readonly string[] TrainingOwnedKeys = ["bias_update_speed", "aux_loss_alpha", "mtp_loss_weight", "num_nextn_predict_layers"];

    /// <summary>The family-neutral shape of <paramref name="c"/>: nanoGPT's model args, the preset, and the <c>model</c> keys (+ γ, α, λ, D for DeepSeek).</summary>
    public static ModelShape Shape(TrainConfig c, int dataVocabSize, string family)
    {
        var extra = new JsonObject();
        foreach (var (key, value) in c.Model ?? new JsonObject())
        {
            if (TrainingOwnedKeys.Contains(key))
                throw new ConfigException($"model.{key} is set by the training config itself; use its own key (n_embd, n_layer, n_head, block_size, vocab_size, bias_update_speed, aux_loss_alpha, mtp_loss_weight, mtp_depth)");
            extra[key] = value?.DeepClone();
        }
        if (family == "deepseek_v3")
        {
            extra["bias_update_speed"] = c.BiasUpdateSpeed;
            extra["aux_loss_alpha"] = c.AuxLossAlpha;
            extra["mtp_loss_weight"] = c.MtpLossWeight;
            extra["num_nextn_predict_layers"] = c.MtpDepth;
        }
        return new ModelShape(Vocab(c, dataVocabSize), c.BlockSize, c.NLayer, c.NHead, c.NEmbd, c.Dropout, c.ModelPreset, extra);
    }

    private static string ConfigJson(ModelFamily family, TrainConfig c, int dataVocabSize) =>
        family.TrainingConfigJson(Shape(c, dataVocabSize, family.ModelType));

    /// <summary>GPT-2 config for training from scratch: n_positions = block_size, all dropouts = dropout.</summary>
    public static Gpt2Config Gpt2(TrainConfig c, int dataVocabSize) =>
        System.Text.Json.JsonSerializer.Deserialize<Gpt2Config>(ConfigJson(ModelFamilies.Get("gpt2"), c, dataVocabSize))!;

    /// <summary>DeepSeek-V3 config for training from scratch (see <see cref="DeepSeekFamily.TrainingConfigJson"/>), γ, α, λ and D from the training config.</summary>
    public static DeepSeekV3Config DeepSeek(TrainConfig c, int dataVocabSize)
    {
        string json = ConfigJson(ModelFamilies.Get("deepseek_v3"), c, dataVocabSize);
        try { return DeepSeekV3Config.Parse(json); }
        catch (ConfigException e) { throw new ConfigException($"deepseek model from preset '{c.ModelPreset}' and the training config: {e.Message}"); }
    }
}
