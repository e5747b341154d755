using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Models.Common;

namespace SharpSeek.Models;

/// <summary>
/// A model shape for training from scratch, independent of any family (nanoGPT's model args), with the settings that only
/// some families have (mixture of experts: γ of auxiliary-loss-free balancing and α of the balance loss; multi-token
/// prediction: λ and depth D; DeepSeek-V3 §2.1.2, §2.2) — a family without them ignores them — and further config.json
/// keys of the family (<paramref name="Extra"/>).
/// </summary>
public sealed record ModelShape(int VocabSize, int BlockSize, int NLayer, int NHead, int NEmbd, double Dropout, string Preset, JsonObject? Extra = null,
                                double BiasUpdateSpeed = 0, double AuxLossAlpha = 0, double MtpLossWeight = 0, int MtpDepth = 0);

/// <summary>What <c>inspect</c> reports beyond the tensor table.</summary>
public sealed record ModelFigures(long ParameterCount, long ActiveParameterCount, long FlopsPerToken, long KvCacheBytesPerToken);

/// <summary>
/// One model family (one folder under Models/ plus one entry in <see cref="ModelFamilies"/>): its config.json
/// <c>model_type</c>, its CLI alias (also the preset prefix of configs/*.json), and how to create, load, validate,
/// inspect and shape it.
/// </summary>
public abstract class ModelFamily
{
    /// <summary>config.json's model_type, e.g. "deepseek_v3".</summary>
    public abstract string ModelType { get; }

    /// <summary>CLI spelling (<c>--arch</c>, train config <c>arch</c>) and preset prefix, e.g. "deepseek".</summary>
    public abstract string Alias { get; }

    /// <summary>A new model with random weights for the config JSON (the caller seeds the generator).</summary>
    public abstract CausalLM Create(string configJson);

    /// <summary>Loads a Hugging Face folder (config.json + safetensors) of this family.</summary>
    public abstract CausalLM Load(string directory);

    /// <summary>Loads a folder with its layers placed by <paramref name="map"/> (some of them left on disk, read for each forward).</summary>
    public virtual CausalLM Load(string directory, SharpSeek.Models.Offload.DeviceMap map) =>
        throw new ConfigException($"{ModelType} models cannot be loaded with a device map");

    /// <summary>
    /// Validates the folder's config.json (<see cref="ConfigException"/>) and its checkpoint headers against it, as
    /// strictly as <see cref="Load(string)"/> does (<see cref="CheckpointException"/>), without reading weights; returns the figures.
    /// </summary>
    public abstract ModelFigures Inspect(string directory, CheckpointFolder checkpoint);

    /// <summary>config.json text for training from scratch with <paramref name="shape"/>.</summary>
    public abstract string TrainingConfigJson(ModelShape shape);
}
