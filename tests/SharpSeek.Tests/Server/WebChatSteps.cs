using System.Text.Json.Nodes;

namespace SharpSeek.Tests.Server;

/// <summary>What a person does on the web chat page (src/SharpSeek.Server/wwwroot/index.html), through <see cref="HeadlessChromium"/>.</summary>
internal static class WebChatSteps
{
    /// <summary>The page's state after a reply: the reply text, the lengths it took while streaming, the stats line and its token count.</summary>
    public sealed record Reply(string Text, IReadOnlyList<int> Lengths, string Stats, int Tokens, double TokensPerSecond);

    /// <summary>Records the length of the newest assistant message at every DOM change (installed once per page).</summary>
    public static Task WatchRepliesAsync(HeadlessChromium.Page page) => page.EvaluateAsync("""
        (() => {
          window.__lengths = [];
          const newest = () => [...document.querySelectorAll('.message.assistant .text')].pop();
          new MutationObserver(() => { const t = newest(); if (t) window.__lengths.push(t.textContent.length); })
            .observe(document.getElementById('messages'), { childList: true, subtree: true, characterData: true });
        })()
        """);

    /// <summary>Sets temperature and max tokens, types <paramref name="prompt"/>, clicks Send and waits until the reply has finished.</summary>
    public static async Task<Reply> SendAsync(HeadlessChromium.Page page, string prompt, double temperature, int maxTokens)
    {
        await page.TypeAsync("#temperature", temperature.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.TypeAsync("#max-tokens", maxTokens.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.EvaluateAsync("window.__lengths = []");
        await page.TypeAsync("#prompt", prompt);
        await page.ClickAsync("#send");
        await page.WaitForAsync("/ · (done|max tokens reached)$/.test(document.getElementById('stats').textContent) || document.querySelector('.message.error')");
        if (await page.EvaluateAsync("document.querySelector('.message.error')?.textContent ?? null") is JsonValue error)
            throw new InvalidOperationException($"the page shows an error: {error}");
        var text = (string)(await page.EvaluateAsync("[...document.querySelectorAll('.message.assistant .text')].pop().textContent"))!;
        var lengths = (await page.EvaluateAsync("window.__lengths"))!.AsArray().Select(n => n!.GetValue<int>()).ToList();
        var stats = (await page.EvaluateAsync("document.getElementById('stats')"
            + ".textContent + '|' + document.getElementById('stats').dataset.tokens + '|' + document.getElementById('stats').dataset.tokensPerSecond"))!
            .GetValue<string>().Split('|');
        return new Reply(text, lengths, stats[0], int.Parse(stats[1], System.Globalization.CultureInfo.InvariantCulture),
                         double.Parse(stats[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Number of messages on the page (user and assistant).</summary>
    public static async Task<int> MessageCountAsync(HeadlessChromium.Page page) =>
        (await page.EvaluateAsync("document.querySelectorAll('.message').length"))!.GetValue<int>();
}
