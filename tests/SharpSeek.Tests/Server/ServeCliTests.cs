using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using SharpSeek.Tests.Cli;
using SharpSeek.Tests.TestSupport;
using static SharpSeek.Tests.Server.ServerTestSupport;

namespace SharpSeek.Tests.Server;

/// <summary><c>sharpseek serve</c> as a child process: it prints its address, answers, requires its key from the environment, stops on SIGTERM.</summary>
public class ServeCliTests
{
    [Fact]
    public async Task Serve_EnvApiKey_AnswersWithKeyAndStopsOnSigterm()
    {
        using var serve = CliProcess.Start(["serve", "--model", ModelFolder(DeepSeek), "--port", "0", "--max-batch", "4"],
                                           new Dictionary<string, string> { ["SHARPSEEK_API_KEY"] = "env-key" });
        Assert.True(serve.WaitForLine(l => l.StartsWith("serving ", StringComparison.Ordinal), TimeSpan.FromSeconds(60)), serve.Stderr);
        var url = Regex.Match(serve.Stdout, @"at (http://\S+/)").Groups[1].Value;
        Assert.Contains("API key required", serve.Stdout);

        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = RequestTimeout };
        string json = """{"model":"tiny-deepseek","prompt":"abc","max_tokens":3}""";
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostAsync("v1/completions", Body(json))).StatusCode);
        http.DefaultRequestHeaders.Authorization = new("Bearer", "env-key");
        using var ok = await http.PostAsync("v1/completions", Body(json));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var usage = JsonDocument.Parse(await ok.Content.ReadAsStringAsync()).RootElement.GetProperty("usage");
        Assert.Equal(3, usage.GetProperty("prompt_tokens").GetInt32());

        serve.Terminate();
        Assert.Equal(0, serve.WaitForExit(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void Serve_RemoteHostWithoutKey_ErrorExit2BeforeLoading()
    {
        var r = CliHarness.Run("serve", "--model", "/no/such/folder", "--host", "0.0.0.0");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: refusing to listen on 0.0.0.0", r.Stderr);
    }

    [Fact]
    public void Serve_MissingModelFolder_ErrorExit2()
    {
        var r = CliHarness.Run("serve", "--model", "/no/such/folder", "--port", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr);
    }
}
