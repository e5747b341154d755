using System.Text.Json;

namespace SharpSeek.Tokenization.Chat;

/// <summary>The chat templates SharpSeek knows, template selection from a model folder, and template + tokenizer helpers.</summary>
public static class ChatTemplates
{
    public static IChatTemplate ChatMl { get; } = new ChatMlTemplate();
    public static IChatTemplate DeepSeek { get; } = new DeepSeekChatTemplate();

    /// <summary>The default template (ChatML).</summary>
    public static IChatTemplate Default => ChatMl;

    /// <summary>
    /// The template named by <c>tokenizer_config.json</c>'s <c>chat_template</c> in <paramref name="dir"/>, recognised by its
    /// marker strings (as llama.cpp's llm_chat_detect_template does); no file or no chat_template = the default (ChatML).
    /// Any other template is a <see cref="ConfigException"/>.
    /// </summary>
    public static IChatTemplate FromFolder(string dir)
    {
        var path = Path.Combine(dir, "tokenizer_config.json");
        if (!File.Exists(path)) return Default;
        using var doc = TokenizerFiles.ParseJson(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("chat_template", out var t)
            || t.ValueKind == JsonValueKind.Null) return Default;
        if (t.ValueKind != JsonValueKind.String)
            throw new ConfigException($"{path}: chat_template is not a string (named template lists are not supported; supported: chatml, deepseek).");
        return FromTemplateText(t.GetString()!, path);
    }

    /// <summary>The template whose Jinja text is <paramref name="jinja"/> (matched on marker strings); <paramref name="source"/> names it in errors.</summary>
    public static IChatTemplate FromTemplateText(string jinja, string source)
    {
        if (jinja.Contains(ChatMlTemplate.ImStart, StringComparison.Ordinal) && jinja.Contains(ChatMlTemplate.ImEnd, StringComparison.Ordinal))
            return ChatMl;
        if (jinja.Contains(DeepSeekChatTemplate.UserTag, StringComparison.Ordinal) && jinja.Contains(DeepSeekChatTemplate.AssistantTag, StringComparison.Ordinal)
            && jinja.Contains(DeepSeekChatTemplate.Eos, StringComparison.Ordinal))
            return DeepSeek;
        throw new ConfigException($"{source}: the chat_template is not supported; supported templates are ChatML (<|im_start|>/<|im_end|>) and DeepSeek (<｜User｜>/<｜Assistant｜>).");
    }

    /// <summary>The template by name: "chatml" or "deepseek".</summary>
    public static IChatTemplate ByName(string name) => name switch
    {
        "chatml" => ChatMl,
        "deepseek" => DeepSeek,
        _ => throw new ConfigException($"Chat template '{name}' is not supported; supported templates are chatml and deepseek."),
    };

    /// <summary><paramref name="tokenizer"/> with the template's special tokens added (appended ids for those it lacks).</summary>
    public static AddedTokensTokenizer WithSpecialTokens(this IChatTemplate template, ITextTokenizer tokenizer) =>
        new(tokenizer, template.SpecialTokens);

    /// <summary>
    /// A tokenizer that expresses the template for a model of <paramref name="vocabSize"/> ids: <paramref name="tokenizer"/>
    /// itself when it has every special token (Added 0), else it with the missing ones appended in memory when they fit the
    /// vocabulary (the model never saw them, as before SFT); null when they do not fit.
    /// </summary>
    public static (ITextTokenizer Tokenizer, int Added)? FitToVocabulary(this IChatTemplate template, ITextTokenizer tokenizer, int vocabSize)
    {
        if (template.SpecialTokens.All(t => AddedTokensTokenizer.ExistingId(tokenizer, t) is not null)) return (tokenizer, 0);
        var grown = template.WithSpecialTokens(tokenizer);
        return grown.VocabSize <= vocabSize ? (grown, grown.NewTokenCount) : null;
    }

    /// <summary>Throws <see cref="ConfigException"/> naming the first special token <paramref name="tokenizer"/> cannot encode as one id.</summary>
    public static void EnsureExpressible(this IChatTemplate template, ITextTokenizer tokenizer)
    {
        foreach (var token in template.SpecialTokens)
            if (AddedTokensTokenizer.ExistingId(tokenizer, token) is null)
                throw new ConfigException($"The tokenizer has no single token for the {template.Name} template's special token '{token}'; add the template's special tokens to it first.");
    }

    /// <summary>Id of the template's end-of-turn token in <paramref name="tokenizer"/>.</summary>
    public static int EndOfTurnId(this IChatTemplate template, ITextTokenizer tokenizer)
    {
        template.EnsureExpressible(tokenizer);
        return AddedTokensTokenizer.ExistingId(tokenizer, template.EndOfTurn)!.Value;
    }

    /// <summary>Token ids of the rendered conversation and per token whether it is assistant content (loss mask); pieces are encoded one by one.</summary>
    public static ChatEncoding Encode(this IChatTemplate template, ITextTokenizer tokenizer, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        template.EnsureExpressible(tokenizer);
        var ids = new List<int>();
        var mask = new List<bool>();
        foreach (var (text, assistant) in template.Pieces(messages, addGenerationPrompt))
        {
            IReadOnlyList<int> pieceIds;
            try { pieceIds = tokenizer.Encode(text); }
            catch (TokenizerException e) { throw new DataException($"The tokenizer cannot express the {template.Name} chat text: {e.Message}"); }
            ids.AddRange(pieceIds);
            mask.AddRange(Enumerable.Repeat(assistant, pieceIds.Count));
        }
        return new ChatEncoding(ids, mask);
    }

    /// <summary>Token ids of the rendered conversation (see <see cref="Encode"/>).</summary>
    public static IReadOnlyList<int> RenderIds(this IChatTemplate template, ITextTokenizer tokenizer, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = false) =>
        template.Encode(tokenizer, messages, addGenerationPrompt).Ids;

    /// <summary>Rejects an unknown role or content containing one of the template's special tokens (it would not parse back).</summary>
    internal static void Check(ChatMessage m, IReadOnlyList<string> specials)
    {
        if (!ChatMessage.Roles.Contains(m.Role))
            throw new DataException($"Chat role '{m.Role}' is not supported; roles are system, user and assistant.");
        foreach (var s in specials)
            if (m.Content.Contains(s, StringComparison.Ordinal))
                throw new DataException($"A {m.Role} message contains the special token '{s}'.");
    }
}
