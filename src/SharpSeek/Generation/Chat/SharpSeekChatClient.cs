using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using SharpSeek.Models;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;
using AiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using TemplateMessage = SharpSeek.Tokenization.Chat.ChatMessage;

namespace SharpSeek.Generation.Chat;

/// <summary>
/// A Microsoft.Extensions.AI <see cref="IChatClient"/> over a loaded model: the messages are rendered by the model's chat
/// template, <see cref="ChatOptions"/> become <see cref="GenerationOptions"/> (<see cref="ToGenerationOptions"/>) and the
/// reply is decoded by <see cref="Generator.StreamUpdatesAsync"/>, one streamed update per token. Requests share the model
/// and run one at a time; each decode step runs on the thread pool, so callers are not blocked.
/// </summary>
public sealed class SharpSeekChatClient : IChatClient
{
    private readonly Generator _generator;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly IReadOnlyList<int> _stopIds;
    private readonly int? _defaultMaxTokens;
    private readonly bool _ownsModel;

    /// <summary>
    /// A client over <paramref name="model"/> whose <paramref name="tokenizer"/> has one id per special token of
    /// <paramref name="template"/>. <paramref name="defaults"/> holds the settings ChatOptions leave open (null: greedy, top_k
    /// off, and a reply may fill the rest of the context); its EOS ids are replaced by the end of turn and the tokenizer's EOS.
    /// </summary>
    public SharpSeekChatClient(CausalLM model, ITextTokenizer tokenizer, IChatTemplate template, string modelId = "sharpseek",
        GenerationOptions? defaults = null)
        : this(model, tokenizer, template, modelId, defaults, ownsModel: false) { }

    private SharpSeekChatClient(CausalLM model, ITextTokenizer tokenizer, IChatTemplate template, string modelId, GenerationOptions? defaults, bool ownsModel)
    {
        if (tokenizer.VocabSize > model.VocabSize)
            throw new TokenizerException($"the tokenizer has {tokenizer.VocabSize} ids but the model's vocabulary has only {model.VocabSize}: they do not belong together");
        Model = model; Tokenizer = tokenizer; Template = template; ModelId = modelId;
        _ownsModel = ownsModel;
        _generator = new Generator(model, tokenizer);
        var chat = template.ForChat(tokenizer, defaults ?? new GenerationOptions { TopK = 0 });
        _stopIds = tokenizer.EosId is int eos && !chat.EosTokenId!.Contains(eos) ? [.. chat.EosTokenId!, eos] : chat.EosTokenId!;
        Defaults = chat with { EosTokenId = _stopIds };
        Defaults.Validate();
        _defaultMaxTokens = defaults?.MaxNewTokens;
        Metadata = new ChatClientMetadata("sharpseek", defaultModelId: modelId);
    }

    /// <summary>
    /// Loads the model folder <paramref name="modelDir"/>: weights, tokenizer and chat template (tokenizer_config.json's
    /// chat_template; ChatML when none). A tokenizer without the template's special tokens gets them in memory when the model's
    /// vocabulary has room for the new ids (<see cref="SpecialTokensAdded"/>; the model never saw them, as before SFT);
    /// otherwise a <see cref="ConfigException"/>. The client owns and disposes the model.
    /// </summary>
    public static SharpSeekChatClient Load(string modelDir, string? modelId = null, GenerationOptions? defaults = null)
    {
        var tokenizer = TokenizerLoader.Load(modelDir);
        var template = ChatTemplates.FromFolder(modelDir);
        var model = ModelLoader.Load(modelDir);
        try
        {
            var (fitted, added) = template.FitToVocabulary(tokenizer, model.VocabSize)
                ?? throw new ConfigException($"the tokenizer in {modelDir} has no single tokens for the {template.Name} template's special tokens " +
                                             $"({string.Join(" ", template.SpecialTokens)}) and the model's vocabulary ({model.VocabSize}) has no room to add them; fine-tune it with sharpseek sft first");
            tokenizer = fitted;
            string id = modelId ?? Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd(Path.DirectorySeparatorChar));
            return new SharpSeekChatClient(model, tokenizer, template, id, defaults, ownsModel: true) { SpecialTokensAdded = added };
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public CausalLM Model { get; }
    public ITextTokenizer Tokenizer { get; }
    public IChatTemplate Template { get; }

    /// <summary>The model name reported in responses; a request naming another model is refused.</summary>
    public string ModelId { get; }

    /// <summary>Generation settings used where <see cref="ChatOptions"/> say nothing (stop ids: end of turn and EOS).</summary>
    public GenerationOptions Defaults { get; }

    /// <summary>Special tokens of the template that <see cref="Load"/> added to the tokenizer in memory (0 when it had them all).</summary>
    public int SpecialTokensAdded { get; private init; }

    public ChatClientMetadata Metadata { get; }

    /// <summary>The model's context length in tokens (prompt + reply).</summary>
    public int ContextLength => Model.MaxSequenceLength;

    /// <summary>Token ids of <paramref name="messages"/> rendered by the template with the assistant header (the prompt of a reply).</summary>
    public IReadOnlyList<int> PromptIds(IEnumerable<AiChatMessage> messages, ChatOptions? options = null) =>
        Template.RenderIds(Tokenizer, ToTemplateMessages(messages, options?.Instructions), addGenerationPrompt: true);

    /// <summary>
    /// The generation settings of a request: <see cref="Defaults"/> overridden by <paramref name="options"/> — Temperature (0 =
    /// greedy, &gt; 0 samples), TopP and TopK (sampling), MaxOutputTokens (default: the rest of the context after
    /// <paramref name="promptLength"/> tokens), StopSequences, Seed, PresencePenalty, FrequencyPenalty. Tools, JSON response
    /// formats and another ModelId are refused.
    /// </summary>
    public GenerationOptions ToGenerationOptions(ChatOptions? options, int promptLength)
    {
        if (options?.ModelId is string id && id != ModelId)
            throw new GenerationException($"model '{id}' is not served by this client; it runs '{ModelId}'");
        if (options?.Tools is { Count: > 0 }) throw new NotSupportedException("SharpSeekChatClient does not call tools");
        if (options?.ResponseFormat is ChatResponseFormatJson) throw new NotSupportedException("SharpSeekChatClient has no JSON response format");
        int maxTokens = options?.MaxOutputTokens ?? _defaultMaxTokens ?? ContextLength - promptLength;
        if (maxTokens < 1 && options?.MaxOutputTokens is null)
            throw new GenerationException($"the conversation ({promptLength} tokens) fills the model's context ({ContextLength} tokens); start a shorter one");
        var g = Defaults with { MaxNewTokens = maxTokens };
        if (options is null) return g;
        bool sample = options.Temperature is float t ? t > 0 : g.DoSample || options.TopP is not null || options.TopK is not null;
        g = g with
        {
            DoSample = sample,
            Temperature = options.Temperature ?? g.Temperature,
            TopP = options.TopP ?? g.TopP,
            TopK = options.TopK ?? g.TopK,
            Seed = options.Seed ?? g.Seed,
            PresencePenalty = options.PresencePenalty ?? g.PresencePenalty,
            FrequencyPenalty = options.FrequencyPenalty ?? g.FrequencyPenalty,
            StopStrings = options.StopSequences is { Count: > 0 } stops ? stops.ToArray() : g.StopStrings,
        };
        g.Validate();
        return g;
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken);

    /// <summary>
    /// Streams the reply: one update per token that releases text, and a last update with the finish reason (Stop at the end of
    /// turn, EOS or a stop sequence; Length at MaxOutputTokens) and the token usage. Cancelling stops before the next token
    /// with <see cref="OperationCanceledException"/>.
    /// </summary>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var prompt = PromptIds(messages, options);
        var generation = ToGenerationOptions(options, prompt.Count);
        string responseId = $"chatcmpl-{Guid.NewGuid():N}";
        var created = DateTimeOffset.UtcNow;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var steps = _generator.StreamUpdatesAsync(prompt, generation, cancellationToken).GetAsyncEnumerator(cancellationToken);
            try
            {
                while (await Task.Run(() => steps.MoveNextAsync().AsTask(), cancellationToken))
                {
                    var step = steps.Current;
                    if (step.Text.Length == 0 && step.FinishReason is null) continue;
                    var contents = new List<AIContent>();
                    if (step.Text.Length > 0) contents.Add(new TextContent(step.Text));
                    var update = new ChatResponseUpdate(ChatRole.Assistant, contents)
                    {
                        ResponseId = responseId, MessageId = responseId, ModelId = ModelId, CreatedAt = created,
                    };
                    if (step.FinishReason is FinishReason finish)
                    {
                        update.FinishReason = finish == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop;
                        contents.Add(new UsageContent(new UsageDetails
                        {
                            InputTokenCount = prompt.Count, OutputTokenCount = step.TokenCount, TotalTokenCount = prompt.Count + step.TokenCount,
                        }));
                    }
                    yield return update;
                }
            }
            finally { await steps.DisposeAsync(); }
        }
        finally { _gate.Release(); }
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return Metadata;
        foreach (object service in new object[] { this, Model, Tokenizer, Template, Defaults })
            if (serviceType.IsInstanceOfType(service)) return service;
        return null;
    }

    /// <summary>Disposes the model when <see cref="Load"/> loaded it.</summary>
    public void Dispose()
    {
        if (_ownsModel) Model.Dispose();
        _gate.Dispose();
    }

    /// <summary>The conversation as template messages: <paramref name="instructions"/> lead the system message; text content only.</summary>
    private static List<TemplateMessage> ToTemplateMessages(IEnumerable<AiChatMessage> messages, string? instructions)
    {
        var result = new List<TemplateMessage>();
        foreach (var m in messages)
        {
            string role = m.Role == ChatRole.System ? TemplateMessage.System
                : m.Role == ChatRole.User ? TemplateMessage.User
                : m.Role == ChatRole.Assistant ? TemplateMessage.Assistant
                : throw new NotSupportedException($"SharpSeekChatClient renders system, user and assistant messages, not '{m.Role}'");
            if (m.Contents.FirstOrDefault(c => c is not TextContent) is { } other)
                throw new NotSupportedException($"SharpSeekChatClient reads text only, not {other.GetType().Name}");
            result.Add(new TemplateMessage(role, m.Text));
        }
        if (!string.IsNullOrEmpty(instructions))
        {
            if (result.Count > 0 && result[0].Role == TemplateMessage.System) result[0] = result[0] with { Content = instructions + "\n\n" + result[0].Content };
            else result.Insert(0, new TemplateMessage(TemplateMessage.System, instructions));
        }
        if (result.Count == 0) throw new GenerationException("no messages given");
        return result;
    }
}
