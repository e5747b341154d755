using SharpSeek.Generation.Serving;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Server;

/// <summary>
/// The model a server answers with: its id (the <c>model</c> field clients send), the loaded model, its tokenizer (with the
/// chat template's special tokens added when the tokenizer lacks them and the model's vocabulary has room), the chat
/// template (null when the tokenizer cannot express it), and the <see cref="ContinuousBatcher"/> that owns the model.
/// </summary>
public sealed class ServedModel : IDisposable
{
    private readonly bool _ownsModel;

    public ServedModel(string id, CausalLM model, ITextTokenizer tokenizer, IChatTemplate? template, ContinuousBatcherOptions? batching = null,
                       bool ownsModel = false)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new ConfigException("the served model needs a non-empty id");
        if (tokenizer.VocabSize > model.VocabSize)
            throw new TokenizerException($"the tokenizer has {tokenizer.VocabSize} ids but the model's vocabulary has only {model.VocabSize}: they do not belong together");
        Id = id;
        Model = model;
        (Tokenizer, Template) = WithTemplate(model, tokenizer, template);
        Batcher = new ContinuousBatcher(model, Tokenizer, batching);
        _ownsModel = ownsModel;
    }

    /// <summary>Loads config.json + safetensors, the tokenizer and the chat template (tokenizer_config.json) from <paramref name="dir"/>.</summary>
    public static ServedModel Load(string dir, string? id = null, ContinuousBatcherOptions? batching = null)
    {
        if (!Directory.Exists(dir)) throw new ConfigException($"model folder '{dir}' does not exist");
        var template = ChatTemplates.FromFolder(dir);
        var tokenizer = TokenizerLoader.Load(dir);
        var model = ModelLoader.Load(dir);
        try
        {
            model.eval();
            return new ServedModel(id ?? Path.GetFileName(Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar)), model, tokenizer, template, batching, ownsModel: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The name clients pass as <c>model</c>.</summary>
    public string Id { get; }

    public CausalLM Model { get; }

    public ITextTokenizer Tokenizer { get; }

    /// <summary>The chat template, or null when the tokenizer cannot express its special tokens (chat requests are refused).</summary>
    public IChatTemplate? Template { get; }

    public ContinuousBatcher Batcher { get; }

    /// <summary>Unix time the model was loaded (the <c>created</c> of /v1/models).</summary>
    public long Created { get; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static (ITextTokenizer, IChatTemplate?) WithTemplate(CausalLM model, ITextTokenizer tokenizer, IChatTemplate? template) =>
        template?.FitToVocabulary(tokenizer, model.VocabSize) is { } fit ? (fit.Tokenizer, template) : (tokenizer, null);

    public void Dispose()
    {
        Batcher.Dispose();
        if (_ownsModel) Model.Dispose();
    }
}
