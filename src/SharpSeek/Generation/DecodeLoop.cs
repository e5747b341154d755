using System.Text;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Generation;

/// <summary>
/// Greedy/sampling decoding of a batch of rows with a KV cache: prefill once, then one token per row per step. Finished rows are
/// dropped from the batch (cache rows reordered). Each <see cref="Step"/> owns its dispose scope and grad mode, so steps may run on
/// different threads (async streaming).
/// </summary>
internal sealed class DecodeLoop : IDisposable
{
    private readonly CausalLM _model;
    private readonly GenerationOptions _options;
    private readonly PaddedBatch _batch;
    private readonly KvCache? _cache;
    private readonly LogitsProcessorPipeline _pipeline;
    private readonly torch.Generator[]? _rngs;        // one per result row: a row's samples do not depend on the other rows
    private readonly HashSet<int> _eos;
    private readonly RowState[] _rows;
    private readonly bool _restoreTraining;
    private int[] _active;                 // batch row → result row
    private Tensor? _logits;               // (B, V) next-token logits of the active rows

    public DecodeLoop(CausalLM model, ITextTokenizer tokenizer, IReadOnlyList<IReadOnlyList<int>> prompts, GenerationOptions options)
    {
        _model = model;
        _options = options;
        int n = options.NumReturnSequences;
        var rows = prompts.SelectMany(p => Enumerable.Repeat(p, n)).ToList();
        _rows = rows.Select((_, i) => new RowState(i / n, tokenizer, options.StopStrings)).ToArray();
        _active = Enumerable.Range(0, rows.Count).ToArray();
        _eos = GenerationSetup.EosIds(options, tokenizer);
        if (model.training) { model.eval(); _restoreTraining = true; }

        int capacity = rows.Max(r => r.Count) + options.MaxNewTokens;
        _batch = new PaddedBatch(rows, capacity, model.Device);
        _cache = options.UseCache ? model.CreateKvCache(rows.Count, capacity) : null;
        _pipeline = LogitsProcessorPipeline.For(options, _batch.RowStarts, GenerationSetup.VocabularyLimit(model, tokenizer));
        if (!options.IsGreedy)
        {
            ulong seed = (ulong)(options.Seed ?? Random.Shared.NextInt64(0, long.MaxValue));
            _rngs = Enumerable.Range(0, rows.Count).Select(i => new torch.Generator(seed + (ulong)i, model.Device)).ToArray();
        }

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        _logits = NextLogits(_model, _batch.Current, _cache, _batch.CurrentMask).DetachFromDisposeScope();
    }

    /// <summary>True until every row has finished.</summary>
    public bool Running => _active.Length > 0;

    /// <summary>Generates one token for every unfinished row; returns false when all rows are done.</summary>
    public bool Step()
    {
        if (!Running) return false;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var scores = _pipeline.IsEmpty ? _logits! : _pipeline.Process(_batch.Current, _logits!);      // (B, V)
        var next = _rngs is null ? scores.argmax(-1) : Sample(scores);                                // (B)
        long[] tokens;
        using (var host = next.cpu()) tokens = host.data<long>().ToArray();
        _batch.Append(next);

        var keep = new List<int>(_active.Length);
        for (int b = 0; b < _active.Length; b++)
            if (_rows[_active[b]].Add((int)tokens[b], _eos, _options.MaxNewTokens)) keep.Add(b);
        if (keep.Count == 0) { _active = []; return false; }
        if (keep.Count < _active.Length)
        {
            var index = torch.tensor(keep.Select(i => (long)i).ToArray(), device: _model.Device);
            _cache?.Reorder(index);
            _batch.Reorder(index, keep);
            _pipeline.ReorderRows(keep);
            next = next.index_select(0, index);
            _active = keep.Select(i => _active[i]).ToArray();
        }

        var input = _cache is null ? _batch.Current : next.view(-1, 1);                                // (B, T) or (B, 1)
        var logits = NextLogits(_model, input, _cache, _batch.CurrentMask);
        _logits!.Dispose();
        _logits = logits.DetachFromDisposeScope();
        return true;
    }

    /// <summary>Draws one token per row from softmax(scores); when filtering left few finite scores, only those are ranked and drawn from.</summary>
    private Tensor Sample(Tensor scores)                                        // (B, V) → (B)
    {
        long vocab = scores.shape[^1];
        Tensor? order = null;
        if (!_pipeline.IsEmpty)
        {
            long finite = scores.isfinite().sum(-1).max().item<long>();
            if (finite * 4 <= vocab) (scores, order) = scores.topk((int)Math.Max(finite, 1), dim: -1);   // (B, F)
        }
        var probs = scores.to(ScalarType.Float32).softmax(-1);                  // (B, F)
        var drawn = _active.Length == 1
            ? probs.multinomial(1, generator: _rngs![_active[0]])
            : torch.cat(_active.Select((row, b) => probs[b].multinomial(1, generator: _rngs![row]).view(1, 1)).ToArray(), 0);   // (B, 1)
        return (order is null ? drawn : order.gather(-1, drawn)).view(-1);
    }

    /// <summary>Text of result row <paramref name="row"/> produced since the last call (streaming).</summary>
    public string TakeText(int row) => _rows[row].TakeText();

    public IReadOnlyList<GenerationResult> Results() => _rows.Select(r => r.Result()).ToList();

    public void Dispose()
    {
        _logits?.Dispose();
        _cache?.Dispose();
        _batch.Dispose();
        foreach (var g in _rngs ?? []) g.Dispose();
        if (_restoreTraining) _model.train();
    }

    /// <summary>Next-token logits (B, V) after <paramref name="ids"/> (B, T): the model computes the head at the last position only.</summary>
    internal static Tensor NextLogits(CausalLM model, Tensor ids, KvCache? cache, Tensor? mask)
    {
        using var output = model.call(new CausalLMInput(ids) { Cache = cache, AttentionMask = mask, LogitsToKeep = 1 });
        using var logits = output.TakeLogits();                               // (B, 1, V); a model may return all T
        return logits.select(1, logits.shape[1] - 1).contiguous();            // (B, V)
    }

    /// <summary>Tokens, text and finish state of one result row.</summary>
    private sealed class RowState(int promptIndex, ITextTokenizer tokenizer, IReadOnlyList<string>? stopStrings)
    {
        private readonly List<int> _tokens = new();
        private readonly IncrementalDetokenizer _detok = new(tokenizer);
        private readonly StopStringFilter? _stops = stopStrings is { Count: > 0 } ? new StopStringFilter(stopStrings) : null;
        private readonly StringBuilder _text = new();
        private int _taken;
        private FinishReason? _finish;

        /// <summary>Adds a generated token; returns false when the row is finished.</summary>
        public bool Add(int token, HashSet<int> eos, int maxNewTokens)
        {
            if (eos.Contains(token)) return Finish(FinishReason.EndOfSequence);
            _tokens.Add(token);
            Emit(_detok.Add(token));
            if (_stops is { Stopped: true }) return Finish(FinishReason.StopString);
            return _tokens.Count < maxNewTokens || Finish(FinishReason.Length);
        }

        public string TakeText()
        {
            string s = _text.ToString(_taken, _text.Length - _taken);
            _taken = _text.Length;
            return s;
        }

        public GenerationResult Result() => new(promptIndex, _tokens, _text.ToString(), _finish ?? FinishReason.Length);

        private bool Finish(FinishReason reason)
        {
            Emit(_detok.Flush());
            if (_stops is not null)
            {
                if (!_stops.Stopped) _text.Append(_stops.Flush());
                if (_stops.Stopped) reason = FinishReason.StopString;
            }
            _finish = reason;
            return false;
        }

        private void Emit(string decoded) => _text.Append(_stops is null ? decoded : _stops.Push(decoded));
    }
}
