using SharpSeek.Models;
using SharpSeek.Models.Gpt2;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Training;

/// <summary>The models <c>sharpseek train</c> builds: GPT-2 from the config's shape (nanoGPT's model args), a pretrained folder (init_from), or a checkpoint.</summary>
public static class TrainingModels
{
    /// <summary>A <see cref="ModelBuilder"/> for <paramref name="config"/>; the vocabulary defaults to the data's, rounded up to a multiple of 64.</summary>
    public static ModelBuilder For(TrainConfig config, int dataVocabSize) => checkpointDir =>
    {
        if (checkpointDir is not null) return (nn.Module)ModelLoader.Load(checkpointDir);
        if (config.InitFrom is not null) return (nn.Module)ModelLoader.Load(config.InitFrom);
        return config.Arch switch
        {
            "gpt2" => new Gpt2LMHeadModel(Gpt2(config, dataVocabSize)),
            _ => throw new ConfigException($"arch '{config.Arch}' cannot be trained from scratch yet (supported: gpt2)"),
        };
    };

    /// <summary>GPT-2 config for training from scratch: n_positions = block_size, all dropouts = dropout.</summary>
    public static Gpt2Config Gpt2(TrainConfig c, int dataVocabSize) => new()
    {
        VocabSize = c.VocabSize > 0 ? c.VocabSize : (dataVocabSize + 63) / 64 * 64,
        NPositions = c.BlockSize, NEmbd = c.NEmbd, NLayer = c.NLayer, NHead = c.NHead,
        ResidPdrop = c.Dropout, EmbdPdrop = c.Dropout, AttnPdrop = c.Dropout,
        BosTokenId = null, EosTokenId = null,
    };
}
