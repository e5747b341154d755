using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Checkpoints;
using SharpSeek.Tokenization;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Data.Chat;

/// <summary>
/// The chat template and tokenizer a chat fine-tune of a model folder uses, and the tokenizer files its checkpoints carry.
/// When the folder's tokenizer lacks the template's special tokens they are added (appended ids, <see cref="AddedTokenFiles"/>);
/// the model must then grow to <see cref="VocabSize"/> rows (<c>VocabGrowth.Grow</c>, before the optimizer exists). The
/// files written (<see cref="Files"/>: tokenizer.json with the added tokens, tokenizer_config.json with the template's
/// <c>chat_template</c>) live in a temporary folder until <see cref="Dispose"/>; the model folder is never written.
/// </summary>
public sealed class ChatTokenizerSetup : IDisposable
{
    private readonly string _dir;

    /// <summary>The chat template.</summary>
    public IChatTemplate Template { get; }

    /// <summary>The folder's tokenizer with every special token of <see cref="Template"/> as one id.</summary>
    public ITextTokenizer Tokenizer { get; }

    /// <summary>Ids appended after the folder's tokenizer vocabulary (0 when it already had the special tokens).</summary>
    public int AddedTokenCount { get; }

    /// <summary>Ids the tokenizer uses: a model with fewer rows must grow to this many.</summary>
    public int VocabSize => Tokenizer.VocabSize;

    /// <summary>The tokenizer files every checkpoint should carry (Trainer.ExtraFiles).</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Id the SFT rows pad with (targets there are ignored): the tokenizer's pad, else EOS, else 0.</summary>
    public int PadId => Tokenizer.PadId ?? Tokenizer.EosId ?? 0;

    private ChatTokenizerSetup(string dir, IChatTemplate template, ITextTokenizer tokenizer, int added, IReadOnlyList<string> files)
    {
        _dir = dir; Template = template; Tokenizer = tokenizer; AddedTokenCount = added; Files = files;
    }

    /// <summary>
    /// The template <paramref name="templateName"/> ("auto": the chat_template of <paramref name="modelDir"/>'s tokenizer_config.json
    /// when it is ChatML or DeepSeek, else ChatML; "chatml"; "deepseek") and <paramref name="modelDir"/>'s tokenizer with its
    /// special tokens. Throws <see cref="ConfigException"/> when the tokenizer lacks them and is not a tokenizer.json they can be added to.
    /// </summary>
    public static ChatTokenizerSetup For(string modelDir, string templateName = "auto")
    {
        var template = templateName == "auto" ? AutoTemplate(modelDir) : ChatTemplates.ByName(templateName);
        var inner = TokenizerLoader.Load(modelDir);
        bool expressible = template.SpecialTokens.All(t => AddedTokensTokenizer.ExistingId(inner, t) is not null);
        if (!expressible && !File.Exists(Path.Combine(modelDir, "tokenizer.json")))
            throw new ConfigException($"the tokenizer in {modelDir} has no single tokens for the {template.Name} template's special tokens " +
                                      $"({string.Join(" ", template.SpecialTokens)}) and is not a tokenizer.json they can be added to");
        string dir = Path.Combine(Path.GetTempPath(), $"sharpseek-chat-tokenizer-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            ITextTokenizer tokenizer;
            int added = 0;
            if (expressible)
            {
                TokenizerFiles.CopyInto(modelDir, dir);
                tokenizer = inner;
            }
            else
            {
                added = template.WithSpecialTokens(inner).NewTokenCount;
                tokenizer = AddedTokenFiles.Write(modelDir, dir, template.SpecialTokens);
                template.EnsureExpressible(tokenizer);
            }
            WriteChatTemplate(dir, template);
            var files = TokenizerFiles.Names.Select(n => Path.Combine(dir, n)).Where(File.Exists).ToList();
            return new ChatTokenizerSetup(dir, template, tokenizer, added, files);
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    /// <summary>The folder's chat_template when it is one SharpSeek renders, else ChatML.</summary>
    public static IChatTemplate AutoTemplate(string modelDir)
    {
        try { return ChatTemplates.FromFolder(modelDir); }
        catch (ConfigException) { return ChatTemplates.ChatMl; }
        catch (TokenizerException) { return ChatTemplates.ChatMl; }
    }

    /// <summary>A Jinja chat_template (Hugging Face's apply_chat_template) rendering exactly as <paramref name="template"/> does.</summary>
    public static string Jinja(IChatTemplate template) => template.Name switch
    {
        "chatml" => "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
                    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
        "deepseek" => $"{{{{ '{DeepSeekChatTemplate.Bos}' }}}}{{% for message in messages %}}{{% if message['role'] == 'system' %}}{{{{ message['content'] }}}}" +
                      $"{{% elif message['role'] == 'user' %}}{{{{ '{DeepSeekChatTemplate.UserTag}' + message['content'] }}}}" +
                      $"{{% else %}}{{{{ '{DeepSeekChatTemplate.AssistantTag}' + message['content'] + '{DeepSeekChatTemplate.Eos}' }}}}{{% endif %}}{{% endfor %}}" +
                      $"{{% if add_generation_prompt %}}{{{{ '{DeepSeekChatTemplate.AssistantTag}' }}}}{{% endif %}}",
        _ => throw new ConfigException($"no chat_template text for template '{template.Name}'"),
    };

    /// <summary>Sets <c>chat_template</c> in <paramref name="dir"/>'s tokenizer_config.json (created if missing), atomically.</summary>
    private static void WriteChatTemplate(string dir, IChatTemplate template)
    {
        string path = Path.Combine(dir, "tokenizer_config.json");
        JsonObject config;
        try { config = File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? new JsonObject() : new JsonObject(); }
        catch (JsonException e) { throw new TokenizerException($"{path} is not valid JSON: {e.Message}"); }
        config["chat_template"] = Jinja(template);
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        AtomicFiles.WriteText(path, config.ToJsonString(options));
    }

    /// <summary>Deletes the temporary tokenizer folder.</summary>
    public void Dispose()
    {
        try { if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
