using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using SharpSeek.Generation.Chat;
using SharpSeek.Tests.TestSupport;

namespace SharpSeek.Tests.Cli;

/// <summary><c>sharpseek chat</c> driven through a pseudo-terminal (util-linux <c>script</c>), as a person types into it.</summary>
public partial class ChatCliTests
{
    /// <summary>A tiny GPT-2 with the byte tokenizer and room for ChatML's two tokens; init std 0.5 so greedy replies vary.</summary>
    private static string InitModel(TempDir tmp, int positions = 64, params string[] more)
    {
        var r = CliHarness.Run(["init", "--arch", "gpt2", "--preset", "tiny", "--set", "vocab_size=320", "--set", $"n_positions={positions}",
                                "--set", "initializer_range=0.5", "--tokenizer", "byte", "--out", tmp["m"], .. more]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        return tmp["m"];
    }

    /// <summary>The greedy reply the chat client gives to <paramref name="messages"/>, as the REPL prints it.</summary>
    private static string GreedyReply(string model, int maxTokens, params ChatMessage[] messages)
    {
        using var client = SharpSeekChatClient.Load(model);
        string text = client.GetResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = maxTokens }).GetAwaiter().GetResult().Text;
        return string.Concat(text.Select(c => char.IsControl(c) && c != '\n' && c != '\t' ? '\uFFFD' : c));
    }

    [Fact]
    public void Chat_TypedThroughTerminal_StreamsRepliesRunsCommandsExitsZero()
    {
        using var tmp = new TempDir();
        string model = InitModel(tmp);
        using var pty = PtySession.Start(["chat", "--model", model, "--temperature", "0", "--max-tokens", "12"]);
        pty.Expect("> ");
        Assert.Contains("chat with m (chatml template, context 64 tokens)", pty.Output);
        Assert.Contains("note: the tokenizer lacked the chatml template's special tokens; 2 were added in memory", pty.Output);

        pty.Type("Hello");
        string first = pty.Expect("tokens/s]");
        Assert.Contains(GreedyReply(model, 12, new ChatMessage(ChatRole.User, "Hello")), first);
        Assert.Matches(@"\[12 tokens \(max_tokens reached\), \d+\.\d tokens/s\]", first);

        pty.Type("/help");
        Assert.Contains("/set NAME VALUE", pty.Expect("Ctrl-C stops a reply"));
        pty.Type("/set temperature -1");
        Assert.Contains("error: temperature (-1) must be a finite number ≥ 0", pty.Expect("≥ 0"));
        pty.Type("/set max_tokens 8");
        pty.Expect("(max_tokens = 8)");

        pty.Type("Hi");                                                           // 13 + (13 + ≥ 12) + 10 + 11 tokens > 64 − 8
        Assert.Contains("(the conversation outgrew the context: dropped the 2 oldest messages)", pty.Expect("tokens/s]"));

        pty.Type("/system Be brief.");
        pty.Expect("(system prompt set; conversation cleared)");
        pty.Type("Hello");
        Assert.Contains(GreedyReply(model, 8, new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, "Hello")), pty.Expect("tokens/s]"));
        pty.Type("/reset");
        pty.Expect("(conversation cleared)");
        pty.Type("Hello");                                                        // after /reset the system prompt stays
        Assert.Contains(GreedyReply(model, 8, new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, "Hello")), pty.Expect("tokens/s]"));

        pty.Type("/exit");
        Assert.Equal(0, pty.WaitForExit());
    }

    [Fact]
    public void Chat_CtrlCDuringReply_StopsReplySessionGoesOnCtrlDEndsZero()
    {
        using var tmp = new TempDir();
        // 8 layers of width 256: its greedy reply runs the full 480 tokens (no end of turn), over a second even on a fast machine
        string model = InitModel(tmp, positions: 512, "--set", "n_embd=256", "--set", "n_layer=8", "--set", "n_head=4");
        using var pty = PtySession.Start(["chat", "--model", model, "--max-tokens", "480", "--temperature", "0"]);
        pty.Expect("> ");
        pty.Type("Hello");
        pty.Expect("Hello\n");
        pty.Expect(GreedyReply(model, 8, new ChatMessage(ChatRole.User, "Hello"))[..2]);   // the reply is being written
        pty.Send("\x03");                                                        // Ctrl-C
        pty.Expect("[stopped]");
        pty.Expect("> ");
        pty.Type("/set seed none");
        pty.Expect("(seed = none)");
        pty.Send("\x04");                                                        // Ctrl-D at an empty prompt
        int code = pty.WaitForExit();
        Assert.True(code == 0, $"exit {code}; output:\n{pty.Output}");
    }

    [Theory]
    [InlineData("--temperature", "-1")]
    [InlineData("--top-p", "0")]
    [InlineData("--max-tokens", "64")]
    [InlineData("--bogus", "1")]
    public void Chat_BadFlag_ExitsTwo(string flag, string value)
    {
        using var tmp = new TempDir();
        var r = CliHarness.Run("chat", "--model", InitModel(tmp), flag, value);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
    }

    [Fact]
    public void Chat_MissingModelFolder_ExitsTwo()
    {
        var r = CliHarness.Run("chat", "--model", "/nonexistent/model");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("/nonexistent/model", r.Stderr);
    }

    /// <summary>
    /// <c>sharpseek</c> in a pseudo-terminal: util-linux <c>script</c> gives the child a pty and copies our stdin into it, so
    /// Enter, Ctrl-C (SIGINT) and Ctrl-D (EOF) reach the CLI as from a keyboard. Output is kept as text without terminal escapes.
    /// </summary>
    private sealed partial class PtySession : IDisposable
    {
        private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly Task _reader;
        private int _consumed;

        private PtySession(string[] args)
        {
            string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";
            // exec: script runs the command through $SHELL -c; a shell left waiting (dash stays) would take Ctrl-C's SIGINT
            // too and die of it after the CLI exits, so script would report 130 whatever the CLI returned
            string command = "exec " + string.Join(' ', new[] { "dotnet", Path.Combine(AppContext.BaseDirectory, "SharpSeek.Cli.dll") }.Concat(args).Select(Quote));
            var start = new ProcessStartInfo("script") { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { "-qfec", command, "/dev/null" }) start.ArgumentList.Add(a);
            start.Environment["TERM"] = "dumb";
            start.Environment["SHELL"] = "/bin/sh";                                 // the same shell on every machine
            start.Environment["OMP_NUM_THREADS"] = "1";
            _process = Process.Start(start)!;
            _reader = Task.Run(async () =>
            {
                var buffer = new char[4096];
                int n;
                while ((n = await _process.StandardOutput.ReadAsync(buffer)) > 0) lock (_output) _output.Append(buffer, 0, n);
            });
        }

        public static PtySession Start(string[] args) => new(args);

        /// <summary>Everything printed so far, without carriage returns and escape sequences.</summary>
        public string Output { get { lock (_output) return Clean(_output.ToString()); } }

        public void Send(string keys)
        {
            _process.StandardInput.Write(keys);
            _process.StandardInput.Flush();
        }

        /// <summary>Types a line and presses Enter.</summary>
        public void Type(string line) => Send(line + "\r");

        /// <summary>Waits for <paramref name="text"/> after what earlier calls consumed; returns the output up to and including it.</summary>
        public string Expect(string text)
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < Timeout)
            {
                string all = Output;
                int at = all.IndexOf(text, _consumed, StringComparison.Ordinal);
                if (at >= 0)
                {
                    string seen = all[_consumed..(at + text.Length)];
                    _consumed = at + text.Length;
                    return seen;
                }
                if (_process.HasExited && _reader.IsCompleted) break;
                Thread.Sleep(20);
            }
            throw new TimeoutException($"'{text}' did not appear; output after the last match:\n{Output[_consumed..]}");
        }

        public int WaitForExit()
        {
            if (!_process.WaitForExit(Timeout)) throw new TimeoutException($"sharpseek chat did not exit; output:\n{Output}");
            _reader.Wait(Timeout);
            return _process.ExitCode;
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }

        private static string Clean(string s) => Escapes().Replace(s.Replace("\r", ""), "");

        [GeneratedRegex(@"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>])")]
        private static partial Regex Escapes();
    }
}
