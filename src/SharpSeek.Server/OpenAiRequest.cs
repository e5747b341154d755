using System.Text.Json;
using System.Text.Json.Nodes;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Server;

/// <summary>
/// An error answered in OpenAI's shape, <c>{"error": {"message", "type", "param", "code"}}</c>, with its HTTP status:
/// 400 invalid request (malformed JSON, missing or invalid field, prompt + max_tokens beyond the context), 401 bad API key,
/// 404 unknown model or route.
/// </summary>
public sealed class ApiError(int status, string message, string type, string? param = null, string? code = null) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    public static ApiError BadRequest(string message, string? param = null, string? code = null) => new(400, message, "invalid_request_error", param, code);

    public JsonObject ToJson() => new()
    {
        ["error"] = new JsonObject { ["message"] = Message, ["type"] = Type, ["param"] = Param, ["code"] = Code },
    };
}

/// <summary>
/// The sampling fields shared by /v1/chat/completions and /v1/completions, read from the request JSON with a 400 naming
/// the field for every wrong type or value.
/// </summary>
public sealed record OpenAiRequest
{
    public required string Model { get; init; }
    public int? MaxTokens { get; init; }
    public double Temperature { get; init; } = 1.0;
    public double TopP { get; init; } = 1.0;
    public int N { get; init; } = 1;
    public IReadOnlyList<string>? Stop { get; init; }
    public long? Seed { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public double PresencePenalty { get; init; }
    public double FrequencyPenalty { get; init; }

    /// <summary>Log-probabilities asked for: null = none, k = the chosen token's plus the k most likely.</summary>
    public int? TopLogprobs { get; init; }

    /// <summary>Chat: the conversation. Null for completions.</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    /// <summary>Completions: one prompt per entry, as text or token ids. Null for chat.</summary>
    public IReadOnlyList<OneOf>? Prompts { get; init; }

    /// <summary>A completions prompt: text or token ids.</summary>
    public sealed record OneOf(string? Text, IReadOnlyList<int>? Ids);

    /// <summary>Largest n (choices per prompt) a request may ask for.</summary>
    public const int MaxN = 16;

    /// <summary>Parses a request body; <paramref name="chat"/> selects /v1/chat/completions (messages) or /v1/completions (prompt).</summary>
    public static OpenAiRequest Parse(ReadOnlySpan<byte> body, bool chat)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 64 }); }
        catch (JsonException e) { throw ApiError.BadRequest($"The request body is not valid JSON: {e.Message}"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest("The request body must be a JSON object.");
            var r = new Reader(root);
            int? logprobs = null;
            if (chat)
            {
                bool want = r.Bool("logprobs") ?? false;
                int? top = r.Int("top_logprobs", 0, 20);
                if (top is not null && !want) throw ApiError.BadRequest("top_logprobs requires logprobs to be true.", "top_logprobs");
                logprobs = want ? top ?? 0 : null;
            }
            else logprobs = r.Int("logprobs", 0, 5);
            var streamOptions = r.Object("stream_options");
            return new OpenAiRequest
            {
                Model = r.String("model") ?? throw ApiError.BadRequest("You must provide a model parameter.", "model", "missing_required_parameter"),
                MaxTokens = r.Int("max_completion_tokens", 1, int.MaxValue) ?? r.Int("max_tokens", 1, int.MaxValue),
                Temperature = r.Double("temperature", 0, 2) ?? 1.0,
                TopP = r.Double("top_p", 0, 1, minExclusive: true) ?? 1.0,
                N = r.Int("n", 1, MaxN) ?? 1,
                Stop = r.Stop(),
                Seed = r.Long("seed"),
                Stream = r.Bool("stream") ?? false,
                IncludeUsage = streamOptions is { } so && new Reader(so, "stream_options.").Bool("include_usage") == true,
                PresencePenalty = r.Double("presence_penalty", -2, 2) ?? 0,
                FrequencyPenalty = r.Double("frequency_penalty", -2, 2) ?? 0,
                TopLogprobs = logprobs,
                Messages = chat ? ParseMessages(root) : null,
                Prompts = chat ? null : ParsePrompt(root),
            };
        }
    }

    private static List<ChatMessage> ParseMessages(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var m) || m.ValueKind == JsonValueKind.Null)
            throw ApiError.BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
        if (m.ValueKind != JsonValueKind.Array || m.GetArrayLength() == 0)
            throw ApiError.BadRequest("'messages' must be a non-empty array.", "messages");
        var list = new List<ChatMessage>();
        int i = 0;
        foreach (var e in m.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (e.ValueKind != JsonValueKind.Object) throw ApiError.BadRequest($"'{at}' must be an object.", at);
            var r = new Reader(e, at + ".");
            string role = r.String("role") ?? throw ApiError.BadRequest($"Missing required parameter: '{at}.role'.", at + ".role", "missing_required_parameter");
            if (role == "developer") role = ChatMessage.System;
            if (!ChatMessage.Roles.Contains(role))
                throw ApiError.BadRequest($"'{at}.role' is '{role}'; supported roles are system, developer, user and assistant.", at + ".role");
            list.Add(new ChatMessage(role, Content(e, at)));
        }
        return list;
    }

    /// <summary>Message content: a string, null, or an array of text parts.</summary>
    private static string Content(JsonElement message, string at)
    {
        if (!message.TryGetProperty("content", out var c) || c.ValueKind == JsonValueKind.Null) return "";
        if (c.ValueKind == JsonValueKind.String) return c.GetString()!;
        if (c.ValueKind != JsonValueKind.Array) throw ApiError.BadRequest($"'{at}.content' must be a string or an array of text parts.", at + ".content");
        var text = new System.Text.StringBuilder();
        foreach (var part in c.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                throw ApiError.BadRequest($"Each part of '{at}.content' must be an object with a type.", at + ".content");
            if (type.GetString() != "text" || !part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                throw ApiError.BadRequest($"Only text content parts are supported in '{at}.content'.", at + ".content");
            text.Append(t.GetString());
        }
        return text.ToString();
    }

    /// <summary>prompt: a string, an array of strings, an array of token ids, or an array of such arrays.</summary>
    private static List<OneOf> ParsePrompt(JsonElement root)
    {
        if (!root.TryGetProperty("prompt", out var p) || p.ValueKind == JsonValueKind.Null)
            throw ApiError.BadRequest("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter");
        const string shape = "'prompt' must be a string, an array of strings, an array of token ids, or an array of token-id arrays.";
        if (p.ValueKind == JsonValueKind.String) return [new OneOf(p.GetString(), null)];
        if (p.ValueKind != JsonValueKind.Array || p.GetArrayLength() == 0) throw ApiError.BadRequest(shape, "prompt");
        if (p.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number)) return [new OneOf(null, TokenIds(p))];
        var list = new List<OneOf>();
        foreach (var e in p.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.String) list.Add(new OneOf(e.GetString(), null));
            else if (e.ValueKind == JsonValueKind.Array) list.Add(new OneOf(null, TokenIds(e)));
            else throw ApiError.BadRequest(shape, "prompt");
        }
        if (list.Count > MaxN) throw ApiError.BadRequest($"'prompt' has {list.Count} prompts; at most {MaxN} are served per request.", "prompt");
        return list;
    }

    private static int[] TokenIds(JsonElement array)
    {
        var ids = new List<int>();
        foreach (var e in array.EnumerateArray())
            ids.Add(e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) ? id
                : throw ApiError.BadRequest("Token ids in 'prompt' must be integers.", "prompt"));
        return ids.ToArray();
    }

    /// <summary>Typed optional fields of one JSON object; JSON null counts as absent.</summary>
    private readonly struct Reader(JsonElement obj, string prefix = "")
    {
        private JsonElement? Get(string name) =>
            obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        private ApiError Invalid(string name, string what) => ApiError.BadRequest($"'{prefix}{name}' must be {what}.", prefix + name);

        public string? String(string name) => Get(name) is not { } v ? null
            : v.ValueKind == JsonValueKind.String ? v.GetString() : throw Invalid(name, "a string");

        public bool? Bool(string name) => Get(name) is not { } v ? null
            : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Invalid(name, "a boolean");

        public JsonElement? Object(string name) => Get(name) is not { } v ? null
            : v.ValueKind == JsonValueKind.Object ? v : throw Invalid(name, "an object");

        public long? Long(string name) => Get(name) is not { } v ? null
            : v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long x) ? x : throw Invalid(name, "an integer");

        public int? Int(string name, int min, int max)
        {
            if (Get(name) is not { } v) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x)) throw Invalid(name, "an integer");
            if (x < min || x > max) throw Invalid(name, max == int.MaxValue ? $"at least {min}" : $"between {min} and {max}");
            return (int)x;
        }

        public double? Double(string name, double min, double max, bool minExclusive = false)
        {
            if (Get(name) is not { } v) return null;
            if (v.ValueKind != JsonValueKind.Number) throw Invalid(name, "a number");
            double x = v.GetDouble();
            if (!double.IsFinite(x) || (minExclusive ? x <= min : x < min) || x > max)
                throw Invalid(name, minExclusive ? $"greater than {min} and at most {max}" : $"between {min} and {max}");
            return x;
        }

        /// <summary>stop: a string or an array of up to 4 non-empty strings.</summary>
        public IReadOnlyList<string>? Stop()
        {
            if (Get("stop") is not { } v) return null;
            string[] stops = v.ValueKind switch
            {
                JsonValueKind.String => [v.GetString()!],
                JsonValueKind.Array when v.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) => v.EnumerateArray().Select(e => e.GetString()!).ToArray(),
                _ => throw Invalid("stop", "a string or an array of strings"),
            };
            if (stops.Length > 4) throw Invalid("stop", "at most 4 strings");
            if (stops.Any(s => s.Length == 0)) throw Invalid("stop", "non-empty");
            return stops.Length == 0 ? null : stops;
        }
    }
}
