using System.CommandLine;
using SharpSeek.Generation.Serving;
using SharpSeek.Server;

namespace SharpSeek.Cli.Commands;

/// <summary><c>sharpseek serve</c>: an OpenAI-compatible HTTP server with continuous batching over a model folder (see docs/serving.md).</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model folder (config.json + safetensors, tokenizer files).", Required = true };
        var name = new Option<string?>("--name") { Description = "Model id clients pass as \"model\" (default: the folder's name)." };
        var host = new Option<string>("--host") { Description = "IP address to listen on (default: loopback only).", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0 = any free port).", DefaultValueFactory = _ => 8000 };
        var apiKey = new Option<string?>("--api-key") { Description = "Require 'Authorization: Bearer KEY' (default: env SHARPSEEK_API_KEY, else none)." };
        var allowRemote = new Option<bool>("--allow-remote") { Description = "Listen on a non-loopback address without an API key." };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most requests decoded together (continuous batching; 1 = one at a time).", DefaultValueFactory = _ => 32 };
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads for LibTorch (default: all cores)." };
        var command = new Command("serve", "Serve a model over an OpenAI-compatible HTTP API (chat/completions, completions, models, health) with continuous batching.")
            { model, name, host, port, apiKey, allowRemote, maxBatch, threads };
        command.SetSafeAction((parse, stdout) =>
        {
            var options = new ServerOptions
            {
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                ApiKey = parse.GetValue(apiKey) ?? (Environment.GetEnvironmentVariable("SHARPSEEK_API_KEY") is { Length: > 0 } k ? k : null),
                AllowRemote = parse.GetValue(allowRemote),
                ConsoleLog = true,
            };
            OpenAiServer.ListenAddress(options);                                          // refuse a bad address before loading
            int batch = parse.GetValue(maxBatch);
            if (batch < 1) throw new SharpSeekException($"--max-batch ({batch}) must be at least 1");
            if (parse.GetValue(threads) is int n)
            {
                if (n < 1) throw new SharpSeekException($"--threads ({n}) must be at least 1");
                TorchSharp.torch.set_num_threads(n);
            }
            using var served = ServedModel.Load(parse.GetValue(model)!, parse.GetValue(name), new ContinuousBatcherOptions { MaxBatchSize = batch });
            var server = OpenAiServer.StartAsync(served, options).GetAwaiter().GetResult();
            try
            {
                stdout.WriteLine($"serving '{served.Id}' at {server.BaseAddress} (max batch {batch}, context {served.Batcher.Capacity}"
                    + $"{(options.ApiKey is null ? "" : ", API key required")}); Ctrl+C stops");
                stdout.Flush();
                server.WaitForShutdownAsync().GetAwaiter().GetResult();
            }
            finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            return 0;
        });
        return command;
    }
}
