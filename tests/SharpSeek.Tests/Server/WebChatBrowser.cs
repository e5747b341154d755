using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SharpSeek.Tests.Server;

/// <summary>
/// A fact that needs headless Chromium: skipped with the reason when no Chromium is installed, except in CI
/// (<c>CI=true</c>), where .ci/run installs Debian's <c>chromium</c> and the test must run.
/// </summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (HeadlessChromium.ExecutablePath is null && Environment.GetEnvironmentVariable("CI") != "true")
            Skip = "Chromium is not installed (looked for /usr/bin/chromium, chromium-browser, google-chrome; apt-get install chromium); CI runs this test";
    }
}

/// <summary>
/// Headless Chromium driven over the Chrome DevTools Protocol (a WebSocket and JSON commands, no browser download or
/// driver package): open a page, evaluate JavaScript, type and click as input events, take screenshots.
/// </summary>
internal sealed partial class HeadlessChromium : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly string _profile;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _receiver;
    private int _nextId;

    /// <summary>The Chromium binary, or null when none is installed.</summary>
    public static string? ExecutablePath { get; } =
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    private HeadlessChromium(Process process, string profile) { _process = process; _profile = profile; }

    /// <summary>Starts Chromium headless with a fresh profile and connects to its DevTools endpoint.</summary>
    public static async Task<HeadlessChromium> LaunchAsync(int width = 1000, int height = 720)
    {
        string exe = ExecutablePath ?? throw new InvalidOperationException("Chromium is not installed: apt-get install chromium");
        string profile = Path.Combine(Path.GetTempPath(), $"sharpseek-chromium-{Guid.NewGuid():N}");
        var start = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[]
                 {
                     "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                     "--disable-extensions", "--remote-debugging-port=0", $"--user-data-dir={profile}", $"--window-size={width},{height}", "about:blank",
                 })
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        var browser = new HeadlessChromium(process, profile);
        try
        {
            var endpoint = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            var stderr = new StringBuilder();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) { endpoint.TrySetException(new InvalidOperationException($"Chromium exited:\n{stderr}")); return; }
                lock (stderr) stderr.AppendLine(e.Data);
                if (DevToolsLine().Match(e.Data) is { Success: true } m) endpoint.TrySetResult(m.Groups[1].Value);
            };
            process.OutputDataReceived += (_, _) => { };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            string url = await endpoint.Task.WaitAsync(Timeout);
            await browser._socket.ConnectAsync(new Uri(url), CancellationToken.None).WaitAsync(Timeout);
            browser._receiver = Task.Run(browser.ReceiveLoop);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Opens <paramref name="url"/> in a new tab and returns its session.</summary>
    public async Task<Page> OpenAsync(string url)
    {
        var target = await SendAsync("Target.createTarget", new JsonObject { ["url"] = url });
        var attached = await SendAsync("Target.attachToTarget", new JsonObject { ["targetId"] = target["targetId"]!.GetValue<string>(), ["flatten"] = true });
        var page = new Page(this, attached["sessionId"]!.GetValue<string>());
        await page.WaitForAsync($"location.href.startsWith({JsonSerializer.Serialize(url)}) && document.readyState === 'complete'");
        return page;
    }

    /// <summary>Sends a DevTools command (to the browser, or to a page's session) and returns its result.</summary>
    public async Task<JsonObject> SendAsync(string method, JsonObject? parameters = null, string? sessionId = null)
    {
        int id = Interlocked.Increment(ref _nextId);
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        if (sessionId is not null) message["sessionId"] = sessionId;
        var reply = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        var response = await reply.Task.WaitAsync(Timeout);
        if (response["error"] is JsonNode error) throw new InvalidOperationException($"{method}: {error.ToJsonString()}");
        return response["result"]?.AsObject() ?? new JsonObject();
    }

    /// <summary>Reads replies (events are ignored) and completes the matching commands.</summary>
    private async Task ReceiveLoop()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var result = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (result.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage) continue;
                var json = JsonNode.Parse(message.ToArray())!.AsObject();
                message.SetLength(0);
                if (json["id"] is JsonNode id && _pending.TryRemove(id.GetValue<int>(), out var reply)) reply.TrySetResult(json);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
        foreach (var reply in _pending.Values) reply.TrySetException(new InvalidOperationException("the DevTools connection closed"));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open) await SendAsync("Browser.close").WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception) { }                                                // closing is best effort; the process is killed next
        _stop.Cancel();
        if (_receiver is not null) await _receiver.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
        if (!_process.WaitForExit(5000)) _process.Kill(entireProcessTree: true);
        _process.Dispose();
        _socket.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [GeneratedRegex(@"DevTools listening on (ws://\S+)")]
    private static partial Regex DevToolsLine();

    /// <summary>One tab: JavaScript evaluation, keyboard and mouse input, screenshots.</summary>
    public sealed class Page(HeadlessChromium browser, string sessionId)
    {
        public Task<JsonObject> SendAsync(string method, JsonObject? parameters = null) => browser.SendAsync(method, parameters, sessionId);

        /// <summary>The value of a JavaScript expression (promises awaited), as JSON.</summary>
        public async Task<JsonNode?> EvaluateAsync(string expression)
        {
            var result = await SendAsync("Runtime.evaluate", new JsonObject { ["expression"] = expression, ["awaitPromise"] = true, ["returnByValue"] = true });
            if (result["exceptionDetails"] is JsonNode details) throw new InvalidOperationException($"{expression}: {details.ToJsonString()}");
            return result["result"]!["value"]?.DeepClone();
        }

        /// <summary>Polls until <paramref name="condition"/> (JavaScript) is true.</summary>
        public async Task WaitForAsync(string condition, TimeSpan? timeout = null)
        {
            var clock = Stopwatch.StartNew();
            while (await EvaluateAsync($"!!({condition})") is not JsonValue v || !v.GetValue<bool>())
            {
                if (clock.Elapsed > (timeout ?? Timeout)) throw new TimeoutException($"waited {clock.Elapsed.TotalSeconds:F0} s for {condition}");
                await Task.Delay(25);
            }
        }

        /// <summary>Clicks the centre of the element <paramref name="selector"/> with the mouse.</summary>
        public async Task ClickAsync(string selector)
        {
            var box = (await EvaluateAsync($"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"))!.AsArray();
            double x = box[0]!.GetValue<double>(), y = box[1]!.GetValue<double>();
            foreach (var type in new[] { "mousePressed", "mouseReleased" })
                await SendAsync("Input.dispatchMouseEvent", new JsonObject { ["type"] = type, ["x"] = x, ["y"] = y, ["button"] = "left", ["clickCount"] = 1 });
        }

        /// <summary>Focuses <paramref name="selector"/>, selects its content and types <paramref name="text"/> over it.</summary>
        public async Task TypeAsync(string selector, string text)
        {
            await EvaluateAsync($"(() => {{ const e = document.querySelector('{selector}'); e.focus(); e.select(); }})()");
            await SendAsync("Input.insertText", new JsonObject { ["text"] = text });
        }

        /// <summary>Limits how fast responses reach the page (DevTools network emulation), so streamed data arrives over time.</summary>
        public async Task ThrottleAsync(int bytesPerSecond)
        {
            await SendAsync("Network.enable");
            await SendAsync("Network.emulateNetworkConditions", new JsonObject
            {
                ["offline"] = false, ["latency"] = 0, ["downloadThroughput"] = bytesPerSecond, ["uploadThroughput"] = -1,
            });
        }

        /// <summary>A PNG of the viewport.</summary>
        public async Task<byte[]> ScreenshotAsync()
        {
            var shot = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" });
            return Convert.FromBase64String(shot["data"]!.GetValue<string>());
        }
    }
}
