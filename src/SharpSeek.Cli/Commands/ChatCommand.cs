using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.AI;
using SharpSeek.Generation;
using SharpSeek.Generation.Chat;

namespace SharpSeek.Cli.Commands;

/// <summary>
/// <c>sharpseek chat</c>: an interactive conversation with a model folder. Each turn sends the conversation so far through the
/// model's chat template (<see cref="SharpSeekChatClient"/>), dropping the oldest turns when it outgrows the context, and
/// streams the reply. Ctrl-C stops the reply being written; Ctrl-D or /exit ends the session.
/// </summary>
public static class ChatCommand
{
    public const string Help = """
        commands:
          /reset                 forget the conversation (the system prompt stays)
          /system TEXT           set the system prompt (empty TEXT removes it) and start over
          /set NAME VALUE        temperature, top_p, max_tokens or seed (seed none = random)
          /help                  this list
          /exit                  quit (also Ctrl-D); Ctrl-C stops a reply
        """;

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json + safetensors, tokenizer files, chat_template).", Required = true };
        var system = new Option<string?>("--system") { Description = "System prompt for the conversation." };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (0 = greedy).", DefaultValueFactory = _ => 0.7 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling: smallest set with cumulative probability ≥ p, in (0, 1].", DefaultValueFactory = _ => 1.0 };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Most tokens per reply (default: 256, at most half the context)." };
        var seed = new Option<long?>("--seed") { Description = "Seed for sampling (same seed and conversation, same replies)." };
        var command = new Command("chat", "Chat with a model in the terminal: history, streamed replies, /reset, /system, /set.")
        {
            model, system, temperature, topP, maxTokens, seed,
        };
        command.SetSafeAction((parse, stdout) =>
        {
            var settings = new Settings
            {
                Temperature = parse.GetValue(temperature), TopP = parse.GetValue(topP), MaxTokens = parse.GetValue(maxTokens), Seed = parse.GetValue(seed),
            };
            settings.Validate();                                               // before loading anything
            using var client = SharpSeekChatClient.Load(parse.GetValue(model)!);
            if (settings.MaxTokens is int n && n >= client.ContextLength)
                throw new GenerationException($"--max-tokens ({n}) leaves no room for a prompt in the model's context ({client.ContextLength} tokens)");
            settings.MaxTokens ??= Math.Min(256, client.ContextLength / 2);
            stdout.WriteLine($"chat with {client.ModelId} ({client.Template.Name} template, context {client.ContextLength} tokens); /help for commands, /exit or Ctrl-D to quit");
            if (client.SpecialTokensAdded > 0)
                stdout.WriteLine($"note: the tokenizer lacked the {client.Template.Name} template's special tokens; {client.SpecialTokensAdded} were added in memory (the model was not trained on them)");
            return new Session(client, settings, parse.GetValue(system), Console.In, stdout).RunAsync().GetAwaiter().GetResult();
        });
        return command;
    }

    /// <summary>Sampling settings, changed by flags and /set.</summary>
    private sealed class Settings
    {
        public double Temperature { get; set; }
        public double TopP { get; set; }
        public int? MaxTokens { get; set; }
        public long? Seed { get; set; }

        public void Validate() =>
            new GenerationOptions { Temperature = Temperature, TopP = TopP, MaxNewTokens = MaxTokens ?? 1, Seed = Seed }.Validate();

        public ChatOptions ToChatOptions() => new()
        {
            Temperature = (float)Temperature, TopP = (float)TopP, MaxOutputTokens = MaxTokens, Seed = Seed,
        };
    }

    /// <summary>One REPL session: reads lines, runs commands, streams replies, keeps the history.</summary>
    private sealed class Session(SharpSeekChatClient client, Settings settings, string? system, TextReader input, TextWriter output)
    {
        private readonly List<ChatMessage> _history = new();
        private CancellationTokenSource? _reply;

        public async Task<int> RunAsync()
        {
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                e.Cancel = true;                                               // Ctrl-C stops the reply, never the session
                _reply?.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            try
            {
                while (true)
                {
                    output.Write("> ");
                    output.Flush();
                    string? line = input.ReadLine();
                    if (line is null) { output.WriteLine(); return 0; }       // Ctrl-D
                    line = line.Trim();
                    if (line.Length == 0) continue;
                    if (line.StartsWith('/'))
                    {
                        if (!Command(line)) return 0;
                        continue;
                    }
                    await ReplyAsync(line);
                }
            }
            finally { Console.CancelKeyPress -= onCancel; }
        }

        /// <summary>Runs a /command; false on /exit.</summary>
        private bool Command(string line)
        {
            int space = line.IndexOf(' ');
            string name = space < 0 ? line : line[..space], rest = space < 0 ? "" : line[(space + 1)..].Trim();
            switch (name)
            {
                case "/exit" or "/quit":
                    return false;
                case "/help":
                    output.WriteLine(Help.TrimEnd());
                    break;
                case "/reset":
                    _history.Clear();
                    output.WriteLine("(conversation cleared)");
                    break;
                case "/system":
                    system = rest.Length > 0 ? rest : null;
                    _history.Clear();
                    output.WriteLine(system is null ? "(system prompt removed; conversation cleared)" : "(system prompt set; conversation cleared)");
                    break;
                case "/set":
                    Set(rest);
                    break;
                default:
                    output.WriteLine($"unknown command {name}; /help lists them");
                    break;
            }
            return true;
        }

        /// <summary>/set NAME VALUE: a bad value is reported and the old one kept.</summary>
        private void Set(string args)
        {
            var parts = args.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (parts.Length != 2) { output.WriteLine("usage: /set temperature|top_p|max_tokens|seed VALUE"); return; }
            var (name, value) = (parts[0].Replace('-', '_'), parts[1]);
            var old = (settings.Temperature, settings.TopP, settings.MaxTokens, settings.Seed);
            try
            {
                var culture = CultureInfo.InvariantCulture;
                switch (name)
                {
                    case "temperature": settings.Temperature = double.Parse(value, culture); break;
                    case "top_p": settings.TopP = double.Parse(value, culture); break;
                    case "max_tokens":
                        settings.MaxTokens = int.Parse(value, culture);
                        if (settings.MaxTokens >= client.ContextLength)
                            throw new GenerationException($"max_tokens ({value}) leaves no room for a prompt in the model's context ({client.ContextLength} tokens)");
                        break;
                    case "seed": settings.Seed = value == "none" ? null : long.Parse(value, culture); break;
                    default: output.WriteLine($"unknown setting {parts[0]}; settings are temperature, top_p, max_tokens, seed"); return;
                }
                settings.Validate();
                output.WriteLine($"({name} = {value})");
            }
            catch (Exception e) when (e is FormatException or OverflowException or SharpSeekException)
            {
                (settings.Temperature, settings.TopP, settings.MaxTokens, settings.Seed) = old;
                output.WriteLine($"error: {(e is SharpSeekException ? e.Message : $"'{value}' is not a valid {name}")}");
            }
        }

        /// <summary>Streams the reply to <paramref name="text"/>; the conversation keeps what was written, even when stopped.</summary>
        private async Task ReplyAsync(string text)
        {
            using var cts = new CancellationTokenSource();                    // from here on Ctrl-C stops this reply
            _reply = cts;
            var options = settings.ToChatOptions();
            var conversation = new List<ChatMessage>();
            if (system is not null) conversation.Add(new ChatMessage(ChatRole.System, system));
            conversation.AddRange(_history);
            conversation.Add(new ChatMessage(ChatRole.User, text));
            int dropped;
            try { (_, dropped) = ChatHistory.Fit(client, conversation, settings.MaxTokens!.Value); }
            catch (GenerationException e) { output.WriteLine($"error: {e.Message}"); _reply = null; return; }
            if (dropped > 0)
            {
                _history.RemoveRange(0, dropped);
                output.WriteLine($"(the conversation outgrew the context: dropped the {dropped} oldest messages)");
                conversation.RemoveRange(system is null ? 0 : 1, dropped);
            }
            _history.Add(conversation[^1]);

            var reply = new StringBuilder();
            ChatFinishReason? finish = null;
            long tokens = 0;
            var clock = Stopwatch.StartNew();
            try
            {
                await foreach (var update in client.GetStreamingResponseAsync(conversation, options, cts.Token))
                {
                    reply.Append(update.Text);
                    output.Write(Printable(update.Text));
                    output.Flush();
                    finish = update.FinishReason ?? finish;
                    if (update.Contents.OfType<UsageContent>().FirstOrDefault() is { } usage) tokens = usage.Details.OutputTokenCount ?? 0;
                }
                output.WriteLine();
                output.WriteLine($"[{tokens} tokens{(finish == ChatFinishReason.Length ? " (max_tokens reached)" : "")}, {tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):F1} tokens/s]");
            }
            catch (OperationCanceledException)
            {
                output.WriteLine();
                output.WriteLine("[stopped]");
            }
            catch (SharpSeekException e)
            {
                output.WriteLine();
                output.WriteLine($"error: {e.Message}");
            }
            finally { _reply = null; }
            _history.Add(new ChatMessage(ChatRole.Assistant, reply.ToString()));
        }

        /// <summary>The text with control characters (other than newline and tab) shown as U+FFFD, so model output cannot drive the terminal.</summary>
        private static string Printable(string text) =>
            text.Any(c => char.IsControl(c) && c != '\n' && c != '\t')
                ? string.Concat(text.Select(c => char.IsControl(c) && c != '\n' && c != '\t' ? '\uFFFD' : c))
                : text;
    }
}
