using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using SharpSeek.Generation;
using SharpSeek.Generation.Serving;
using SharpSeek.Tokenization.Chat;

namespace SharpSeek.Server;

/// <summary>
/// The routes of <see cref="OpenAiServer"/>. A request becomes n × prompts sequences submitted to the model's
/// <see cref="ContinuousBatcher"/> with the request's abort token, so a client that disconnects frees its rows at the next step.
/// </summary>
internal sealed class Endpoints(ServedModel model)
{
    /// <summary>Largest request body read (a prompt longer than any context is refused before this anyway).</summary>
    private const int MaxBodyBytes = 8 << 20;

    public void Map(WebApplication app)
    {
        app.MapGet("/", async ctx =>
        {
            if (OpenAiServer.IndexPage() is { } page)
            {
                ctx.Response.ContentType = "text/html; charset=utf-8";
                await ctx.Response.Body.WriteAsync(page, ctx.RequestAborted);
            }
            else
            {
                ctx.Response.ContentType = "text/plain; charset=utf-8";
                await ctx.Response.WriteAsync($"SharpSeek OpenAI-compatible server for '{model.Id}': POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health\n", ctx.RequestAborted);
            }
        });
        app.MapGet("/health", ctx => Json(ctx, OpenAiServer.Health(model)));
        app.MapGet("/v1/models", ctx => Json(ctx, new JsonObject { ["object"] = "list", ["data"] = new JsonArray(ModelCard()) }));
        app.MapGet("/v1/models/{id}", (HttpContext ctx, string id) => id == model.Id ? Json(ctx, ModelCard()) : throw UnknownModel(id));
        app.MapPost("/v1/chat/completions", ctx => Complete(ctx, chat: true));
        app.MapPost("/v1/completions", ctx => Complete(ctx, chat: false));
    }

    /// <summary>The method a known route takes ("POST", "GET"), or null for an unknown path (the fallback answers 405 or 404).</summary>
    public static string? Methods(PathString path) => path.Value?.TrimEnd('/') switch
    {
        "/v1/chat/completions" or "/v1/completions" => "POST",
        "" or "/health" or "/v1/models" => "GET",
        _ => null,
    };

    private JsonObject ModelCard() => new()
    {
        ["id"] = model.Id, ["object"] = "model", ["created"] = model.Created, ["owned_by"] = "sharpseek",
        ["max_model_len"] = model.Batcher.Capacity,
    };

    private static ApiError UnknownModel(string id) => new(404, $"The model '{id}' does not exist.", "invalid_request_error", "model", "model_not_found");

    private static Task Json(HttpContext ctx, JsonObject body)
    {
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(body.ToJsonString(), ctx.RequestAborted);
    }

    /// <summary>One prompt's token ids and how many tokens each of its sequences may generate.</summary>
    private sealed record Prompt(IReadOnlyList<int> Ids, int MaxTokens);

    private async Task Complete(HttpContext ctx, bool chat)
    {
        var request = OpenAiRequest.Parse(await ReadBody(ctx), chat);
        if (request.Model != model.Id) throw UnknownModel(request.Model);
        IReadOnlyList<int>? eos = null;
        List<IReadOnlyList<int>> promptIds;
        if (chat)
        {
            var template = model.Template ?? throw ApiError.BadRequest($"The model '{model.Id}' has no chat template its tokenizer can express; use /v1/completions.", "messages");
            promptIds = [template.RenderIds(model.Tokenizer, request.Messages!, addGenerationPrompt: true)];
            int endOfTurn = template.EndOfTurnId(model.Tokenizer);
            eos = model.Tokenizer.EosId is int e && e != endOfTurn ? [endOfTurn, e] : [endOfTurn];
        }
        else promptIds = request.Prompts!.Select(p => p.Ids ?? model.Tokenizer.Encode(p.Text!)).ToList();
        var prompts = promptIds.Select((ids, i) => Sized(ids, request, chat, promptIds.Count > 1 ? i : null)).ToList();

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        try
        {
            var sequences = new List<BatchedSequence>();
            foreach (var p in prompts)
                for (int j = 0; j < request.N; j++)
                    sequences.Add(model.Batcher.Submit(new SequenceRequest(p.Ids)
                    {
                        MaxNewTokens = p.MaxTokens, Temperature = request.Temperature, TopP = request.TopP,
                        PresencePenalty = request.PresencePenalty, FrequencyPenalty = request.FrequencyPenalty,
                        StopStrings = request.Stop, EosIds = eos, Seed = request.Seed is long s ? ((s & long.MaxValue) + j) & long.MaxValue : null,     // any JSON integer; choice j: seed + j
                        TopLogprobs = request.TopLogprobs,
                    }, cancel.Token));
            var reply = new Reply(model, request, chat, prompts.Sum(p => p.Ids.Count));
            if (request.Stream) await Stream(ctx, reply, sequences);
            else await Json(ctx, reply.Whole(await Task.WhenAll(sequences.Select(s => s.Completion))));
        }
        finally { cancel.Cancel(); }                                   // a failed or abandoned request leaves no sequence running
    }

    /// <summary>Checks a prompt against the context: 400 context_length_exceeded when prompt + max_tokens does not fit.</summary>
    private Prompt Sized(IReadOnlyList<int> ids, OpenAiRequest request, bool chat, int? index)
    {
        int context = model.Batcher.Capacity;
        string where = index is int i ? $"prompt {i} has" : chat ? "the messages have" : "the prompt has";
        if (ids.Count == 0) throw ApiError.BadRequest($"The prompt is empty.", chat ? "messages" : "prompt");
        if (ids.Any(id => id < 0 || id >= model.Model.VocabSize))
            throw ApiError.BadRequest($"Token ids in the prompt must be in 0..{model.Model.VocabSize - 1}.", "prompt");
        if (ids.Count >= context)
            throw ApiError.BadRequest($"This model's maximum context length is {context} tokens, but {where} {ids.Count} tokens.", chat ? "messages" : "prompt", "context_length_exceeded");
        int max = request.MaxTokens ?? (chat ? context - ids.Count : Math.Min(16, context - ids.Count));
        if (ids.Count + max > context)
            throw ApiError.BadRequest($"This model's maximum context length is {context} tokens. However, you requested {ids.Count + max} tokens ({ids.Count} in the prompt, {max} in the completion). Reduce the prompt or max_tokens.",
                                      "max_tokens", "context_length_exceeded");
        return new Prompt(ids, max);
    }

    private static async Task<byte[]> ReadBody(HttpContext ctx)
    {
        if (ctx.Request.ContentLength > MaxBodyBytes) throw new ApiError(413, $"The request body is larger than {MaxBodyBytes} bytes.", "invalid_request_error");
        using var buffer = new MemoryStream();
        var chunk = new byte[16384];
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > MaxBodyBytes) throw new ApiError(413, $"The request body is larger than {MaxBodyBytes} bytes.", "invalid_request_error");
        }
        return buffer.ToArray();
    }

    /// <summary>Server-sent events: one <c>data: {chunk}</c> per delta of any choice, a finish chunk per choice, the usage chunk if asked, <c>data: [DONE]</c>.</summary>
    private static async Task Stream(HttpContext ctx, Reply reply, List<BatchedSequence> sequences)
    {
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        ctx.Response.Headers["X-Accel-Buffering"] = "no";
        var abort = ctx.RequestAborted;
        async Task Send(JsonObject chunk)
        {
            await ctx.Response.WriteAsync("data: " + chunk.ToJsonString() + "\n\n", abort);
            await ctx.Response.Body.FlushAsync(abort);
        }

        var events = Channel.CreateUnbounded<(int Index, SequenceDelta? Delta, SequenceResult? Result, Exception? Error)>();
        var pumps = sequences.Select((s, i) => Task.Run(async () =>
        {
            try
            {
                await foreach (var d in s.Deltas.ReadAllAsync()) events.Writer.TryWrite((i, d, null, null));
                events.Writer.TryWrite((i, null, await s.Completion, null));
            }
            catch (Exception e) { events.Writer.TryWrite((i, null, null, e)); }
        })).ToArray();

        await ctx.Response.StartAsync(abort);
        if (reply.Chat) for (int i = 0; i < sequences.Count; i++) await Send(reply.Chunk(i, "", null, null, role: true));
        var results = new SequenceResult[sequences.Count];
        for (int done = 0; done < sequences.Count;)
        {
            var (index, delta, result, error) = await events.Reader.ReadAsync(abort);
            if (error is not null)
            {
                if (abort.IsCancellationRequested) return;
                await Send(StreamError(error).ToJson());
                return;
            }
            if (delta is not null) await Send(reply.Chunk(index, delta.Text, delta, null));
            else
            {
                results[index] = result!;
                await Send(reply.Chunk(index, "", null, result!.FinishReason));
                done++;
            }
        }
        await Task.WhenAll(pumps);
        if (reply.Request.IncludeUsage) await Send(reply.UsageChunk(results));
        await ctx.Response.WriteAsync("data: [DONE]\n\n", abort);
        await ctx.Response.Body.FlushAsync(abort);
    }

    private static ApiError StreamError(Exception e) => e is SharpSeekException s
        ? ApiError.BadRequest(s.Message)
        : new ApiError(500, $"Generation failed: {e.Message}", "server_error");

    /// <summary>Response bodies and chunks of one request, in the OpenAI wire format.</summary>
    private sealed class Reply(ServedModel model, OpenAiRequest request, bool chat, int promptTokens)
    {
        private readonly string _id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
        private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        public bool Chat => chat;
        public OpenAiRequest Request => request;

        private JsonObject Envelope(bool chunk) => new()
        {
            ["id"] = _id,
            ["object"] = chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion",
            ["created"] = _created,
            ["model"] = model.Id,
            ["system_fingerprint"] = "sharpseek",
        };

        private static string Finish(FinishReason reason) => reason == FinishReason.Length ? "length" : "stop";

        private JsonObject Usage(IEnumerable<SequenceResult> results)
        {
            int completion = results.Sum(r => r.CompletionTokens);
            return new JsonObject { ["prompt_tokens"] = promptTokens, ["completion_tokens"] = completion, ["total_tokens"] = promptTokens + completion };
        }

        public JsonObject Whole(SequenceResult[] results)
        {
            var choices = new JsonArray();
            for (int i = 0; i < results.Length; i++)
            {
                var r = results[i];
                var choice = new JsonObject { ["index"] = i };
                if (chat) choice["message"] = new JsonObject { ["role"] = "assistant", ["content"] = r.Text };
                else choice["text"] = r.Text;
                choice["logprobs"] = request.TopLogprobs is null ? null : Logprobs(r.Logprobs, 0);
                choice["finish_reason"] = Finish(r.FinishReason);
                choices.Add(choice);
            }
            var body = Envelope(chunk: false);
            body["choices"] = choices;
            body["usage"] = Usage(results);
            return body;
        }

        public JsonObject Chunk(int index, string text, SequenceDelta? delta, FinishReason? finish, bool role = false)
        {
            var choice = new JsonObject { ["index"] = index };
            if (chat)
            {
                var d = new JsonObject();
                if (role) d["role"] = "assistant";
                if (finish is null) d["content"] = text;
                choice["delta"] = d;
            }
            else choice["text"] = text;
            choice["logprobs"] = request.TopLogprobs is not null && delta?.Token is not null ? Logprobs([delta], 0) : null;
            choice["finish_reason"] = finish is { } f ? Finish(f) : null;
            var chunk = Envelope(chunk: true);
            chunk["choices"] = new JsonArray(choice);
            if (request.IncludeUsage) chunk["usage"] = null;
            return chunk;
        }

        public JsonObject UsageChunk(SequenceResult[] results)
        {
            var chunk = Envelope(chunk: true);
            chunk["choices"] = new JsonArray();
            chunk["usage"] = Usage(results);
            return chunk;
        }

        /// <summary>Chat: <c>{"content": [{token, logprob, bytes, top_logprobs}]}</c>; completions: tokens, token_logprobs, top_logprobs, text_offset.</summary>
        private JsonObject Logprobs(IReadOnlyList<SequenceDelta> tokens, int textOffset)
        {
            string Text(int id) => model.Tokenizer.Decode([id]);
            if (chat)
            {
                JsonObject Entry(TokenLogprob t) => new()
                {
                    ["token"] = Text(t.TokenId), ["logprob"] = t.Logprob,
                    ["bytes"] = new JsonArray(Encoding.UTF8.GetBytes(Text(t.TokenId)).Select(b => (JsonNode)(int)b).ToArray()),
                };
                var content = new JsonArray();
                foreach (var d in tokens.Where(d => d.Token is not null))
                {
                    var e = Entry(d.Token!);
                    e["top_logprobs"] = new JsonArray((d.TopLogprobs ?? []).Select(t => (JsonNode)Entry(t)).ToArray());
                    content.Add(e);
                }
                return new JsonObject { ["content"] = content };
            }
            var toks = new JsonArray();
            var lps = new JsonArray();
            var tops = new JsonArray();
            var offsets = new JsonArray();
            int offset = textOffset;
            foreach (var d in tokens.Where(d => d.Token is not null))
            {
                string t = Text(d.Token!.TokenId);
                toks.Add(t);
                lps.Add(d.Token.Logprob);
                var top = new JsonObject();
                foreach (var c in d.TopLogprobs ?? []) top[Text(c.TokenId)] = c.Logprob;
                tops.Add(top);
                offsets.Add(offset);
                offset += t.Length;
            }
            return new JsonObject { ["tokens"] = toks, ["token_logprobs"] = lps, ["top_logprobs"] = tops, ["text_offset"] = offsets };
        }
    }
}
