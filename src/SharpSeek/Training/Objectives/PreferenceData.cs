using SharpSeek.Data.Preference;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Training.Objectives;

/// <summary>The pairs the reward-model and DPO objectives train on, from a <see cref="PreferenceConfig"/> and a model folder.</summary>
public static class PreferenceData
{
    /// <summary>
    /// The encoded train and held-out pairs of <paramref name="config"/>: the tokenizer of <paramref name="modelDir"/>, the
    /// chat template named by preference.template or that folder's tokenizer_config.json, preference.data read (and
    /// preference.val_data, or a hash split by val_fraction) and encoded. Every problem of the data or the tokenizer
    /// (<see cref="DataException"/> with file:line, <see cref="ConfigException"/>, <see cref="TokenizerException"/>) is
    /// raised here, so a verb can call this before it loads a model or writes anything.
    /// </summary>
    public static PreferenceBatches Open(PreferenceConfig config, string modelDir, ulong seed)
    {
        config.Validate();
        var tokenizer = TokenizerLoader.Load(modelDir);
        var template = config.Template is { } name ? ChatTemplates.ByName(name) : ChatTemplates.FromFolder(modelDir);
        try { template.EnsureExpressible(tokenizer); }
        catch (ConfigException e) { throw new ConfigException($"{modelDir}: {e.Message}"); }

        var pairs = PreferenceJsonl.Read(config.Data);
        var (train, val) = config.ValData is { } valPath
            ? (pairs.ToList(), PreferenceJsonl.Read(valPath).ToList())
            : PreferenceBatches.HashSplit(pairs, config.ValFraction);
        int maxLength = config.MaxLength > 0 ? config.MaxLength : int.MaxValue;            // else Validate checks the model's limit
        return new PreferenceBatches(Encode(train), Encode(val), seed);

        List<EncodedPair> Encode(List<PreferencePair> list) => list.Select(p => PreferenceEncoding.Encode(template, tokenizer, p, maxLength)).ToList();
    }

    /// <summary>Throws <see cref="ConfigException"/> unless every token id fits <paramref name="model"/>'s vocabulary and every conversation its context.</summary>
    public static void Validate(PreferenceBatches data, CausalLM model)
    {
        if (data.MaxTokenId >= model.VocabSize)
            throw new ConfigException($"the preference data holds token id {data.MaxTokenId}, but the model's vocabulary has {model.VocabSize} tokens (a tokenizer that does not match the model?)");
        if (data.MaxLength > model.MaxSequenceLength)
            throw new ConfigException($"a preference conversation has {data.MaxLength} tokens, more than the model's maximum sequence length {model.MaxSequenceLength}");
    }
}
