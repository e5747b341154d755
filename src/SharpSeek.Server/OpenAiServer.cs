using System.Net;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SharpSeek.Server;

/// <summary>How <c>sharpseek serve</c> listens.</summary>
public sealed record ServerOptions
{
    /// <summary>IP address to listen on, or "localhost"; loopback by default.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (see <see cref="OpenAiServer.BaseAddress"/>).</summary>
    public int Port { get; init; } = 8000;

    /// <summary>When set, every /v1 request must carry <c>Authorization: Bearer KEY</c>.</summary>
    public string? ApiKey { get; init; }

    /// <summary>Listen on a non-loopback address without an API key.</summary>
    public bool AllowRemote { get; init; }

    /// <summary>Log requests and errors to the console (warnings and above).</summary>
    public bool ConsoleLog { get; init; }
}

/// <summary>
/// An OpenAI-compatible HTTP server (ASP.NET Core minimal APIs) over one <see cref="ServedModel"/>: POST /v1/chat/completions,
/// POST /v1/completions (plain or streamed as server-sent events), GET /v1/models, GET /health, and the web page at / when
/// the assembly carries one (wwwroot/index.html). Errors use OpenAI's JSON error shape and never take the server down.
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OpenAiServer(WebApplication app, ServedModel model, Uri baseAddress)
    {
        _app = app;
        Model = model;
        BaseAddress = baseAddress;
    }

    /// <summary>Address the server listens on, e.g. http://127.0.0.1:8000/.</summary>
    public Uri BaseAddress { get; }

    public ServedModel Model { get; }

    /// <summary>Checks the options (a <see cref="ConfigException"/> for a bad host or a remote address without a key), binds and starts serving.</summary>
    public static async Task<OpenAiServer> StartAsync(ServedModel model, ServerOptions options, CancellationToken cancellationToken = default)
    {
        var address = ListenAddress(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = typeof(OpenAiServer).Assembly.GetName().Name });
        builder.Logging.ClearProviders();
        if (options.ConsoleLog) builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(address, options.Port);
            k.AddServerHeader = false;
        });
        var app = builder.Build();
        app.Use(ErrorsAsJson);
        if (options.ApiKey is { } key) app.Use(RequireKey(key));
        var endpoints = new Endpoints(model);
        endpoints.Map(app);
        app.MapFallback(ctx => Write(ctx, Endpoints.Methods(ctx.Request.Path) is { } allowed
            ? new ApiError(405, $"{ctx.Request.Method} is not allowed on {ctx.Request.Path} (use {allowed}).", "invalid_request_error", null, "method_not_allowed")
            : new ApiError(404, $"Unknown route {ctx.Request.Method} {ctx.Request.Path}.", "invalid_request_error", null, "unknown_url")));
        try { await app.StartAsync(cancellationToken); }
        catch (IOException e) { await app.DisposeAsync(); throw new ConfigException($"cannot listen on {address}:{options.Port}: {e.Message}"); }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new OpenAiServer(app, model, new Uri(bound.EndsWith('/') ? bound : bound + "/"));
    }

    /// <summary>The IP address for <see cref="ServerOptions.Host"/>; refuses a non-loopback one without an API key unless allowed.</summary>
    public static IPAddress ListenAddress(ServerOptions options)
    {
        if (options.Port is < 0 or > 65535) throw new ConfigException($"--port ({options.Port}) must be in 0..65535");
        var address = options.Host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(options.Host, out var ip) ? ip
            : throw new ConfigException($"--host '{options.Host}' must be an IP address (e.g. 127.0.0.1, 0.0.0.0) or localhost");
        if (!IPAddress.IsLoopback(address) && string.IsNullOrEmpty(options.ApiKey) && !options.AllowRemote)
            throw new ConfigException($"refusing to listen on {address} (reachable from other machines) without an API key: pass --api-key (or set SHARPSEEK_API_KEY), or --allow-remote to serve without one");
        if (options.ApiKey is "") throw new ConfigException("the API key must not be empty");
        return address;
    }

    /// <summary>Waits until the server stops (Ctrl+C / SIGTERM or <paramref name="cancellationToken"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5))) await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }

    /// <summary>Any exception a handler lets through becomes an OpenAI error body: 4xx for user errors, 500 otherwise.</summary>
    private static async Task ErrorsAsJson(HttpContext ctx, RequestDelegate next)
    {
        try { await next(ctx); }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { }
        catch (Exception e) when (!ctx.Response.HasStarted)
        {
            var error = e switch
            {
                ApiError a => a,
                BadHttpRequestException b => new ApiError(b.StatusCode, b.Message, "invalid_request_error"),
                SharpSeekException s => ApiError.BadRequest(s.Message),
                _ => new ApiError(500, $"Internal error: {e.Message}", "server_error"),
            };
            await Write(ctx, error);
        }
    }

    /// <summary>Requires <c>Authorization: Bearer KEY</c> on /v1 (compared in constant time); /health and / stay open.</summary>
    private static Func<HttpContext, RequestDelegate, Task> RequireKey(string key)
    {
        byte[] expected = Encoding.UTF8.GetBytes(key);
        return async (ctx, next) =>
        {
            if (ctx.Request.Path.StartsWithSegments("/v1"))
            {
                string header = ctx.Request.Headers.Authorization.ToString();
                if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                {
                    await Write(ctx, new ApiError(401, "You didn't provide an API key. Pass it as 'Authorization: Bearer KEY'.", "invalid_request_error", null, "invalid_api_key"));
                    return;
                }
                byte[] given = Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
                if (!CryptographicOperations.FixedTimeEquals(given, expected))
                {
                    await Write(ctx, new ApiError(401, "Incorrect API key provided.", "invalid_request_error", null, "invalid_api_key"));
                    return;
                }
            }
            await next(ctx);
        };
    }

    internal static Task Write(HttpContext ctx, ApiError error)
    {
        ctx.Response.StatusCode = error.Status;
        ctx.Response.ContentType = "application/json";
        if (error.Status == 401) ctx.Response.Headers.WWWAuthenticate = "Bearer";
        return ctx.Response.WriteAsync(error.ToJson().ToJsonString(), ctx.RequestAborted);
    }

    /// <summary>The web chat page: wwwroot/index.html next to the assembly, else embedded as wwwroot/index.html, else null.</summary>
    internal static byte[]? IndexPage()
    {
        string file = Path.Combine(AppContext.BaseDirectory, "wwwroot", "index.html");
        if (File.Exists(file)) return File.ReadAllBytes(file);
        using var stream = typeof(OpenAiServer).Assembly.GetManifestResourceStream("wwwroot/index.html");
        if (stream is null) return null;
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    internal static JsonObject Health(ServedModel model) => new()
    {
        ["status"] = "ok",
        ["model"] = model.Id,
        ["running"] = model.Batcher.ActiveCount,
        ["waiting"] = model.Batcher.PendingCount,
        ["max_batch"] = model.Batcher.MaxBatchSize,
        ["context"] = model.Batcher.Capacity,
        ["version"] = typeof(OpenAiServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion,
    };
}
