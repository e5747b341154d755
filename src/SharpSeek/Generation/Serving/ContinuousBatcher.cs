using System.Collections.Concurrent;
using System.Text;
using SharpSeek.Models.Common;
using SharpSeek.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace SharpSeek.Generation.Serving;

/// <summary>Limits of a <see cref="ContinuousBatcher"/>.</summary>
public sealed record ContinuousBatcherOptions
{
    /// <summary>Most sequences decoded together; further requests wait in a queue (1 = one request at a time).</summary>
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>Most tokens (prompt + generated) one sequence may hold; null = the model's context.</summary>
    public int? Capacity { get; init; }
}

/// <summary>
/// Continuous (iteration-level) batching, as Orca (Yu et al., OSDI 2022) and vLLM schedule: concurrent requests share one
/// model, whose only user is one decode thread. Between decode steps, waiting requests join the running batch (their prompts
/// prefilled together, their KV rows appended right-aligned: <see cref="KvCache.AppendRows"/>) and finished or cancelled ones
/// leave (rows dropped: <see cref="KvCache.Reorder"/>); each row keeps its own sampling settings, seed, penalties and stop
/// strings. Rows of different lengths share one cache: each row's tokens are a suffix of the cache's slots, the slots in
/// front of it are masked out (the attention mask gives positions = cumsum(mask) − 1), and slots no row uses any more are
/// dropped (<see cref="KvCache.DropFront"/>). Deltas are pushed to per-request channels; a request's cancellation token
/// removes it at the next step. Works with every <see cref="CausalLM"/> whose cache supports appending rows.
/// </summary>
public sealed class ContinuousBatcher : IDisposable
{
    private readonly CausalLM _model;
    private readonly ITextTokenizer _tokenizer;
    private readonly int _maxBatch, _capacity;
    private readonly int? _vocabularyLimit;
    private readonly ConcurrentQueue<BatchedSequence> _pending = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private readonly bool _restoreTraining;
    private volatile bool _stopping;

    // Owned by the decode thread.
    private readonly List<Row> _rows = new();
    private KvCache? _cache;
    private Tensor? _logits;                  // (B, V) next-token logits of _rows, not yet sampled
    private int _active, _peak;
    private long _steps, _prefills;

    public ContinuousBatcher(CausalLM model, ITextTokenizer tokenizer, ContinuousBatcherOptions? options = null)
    {
        options ??= new ContinuousBatcherOptions();
        if (options.MaxBatchSize < 1) throw new GenerationException($"max batch size ({options.MaxBatchSize}) must be at least 1");
        _capacity = options.Capacity ?? model.MaxSequenceLength;
        if (_capacity < 2 || _capacity > model.MaxSequenceLength)
            throw new GenerationException($"capacity ({_capacity}) must be in [2, {model.MaxSequenceLength}] (the model's context)");
        _model = model;
        _tokenizer = tokenizer;
        _maxBatch = options.MaxBatchSize;
        _vocabularyLimit = GenerationSetup.VocabularyLimit(model, tokenizer);
        if (model.training) { model.eval(); _restoreTraining = true; }
        _thread = new Thread(Run) { IsBackground = true, Name = "SharpSeek decode" };
        _thread.Start();
    }

    /// <summary>Most tokens (prompt + generated) one sequence may hold.</summary>
    public int Capacity => _capacity;

    public int MaxBatchSize => _maxBatch;

    /// <summary>Sequences in the running batch now.</summary>
    public int ActiveCount => Volatile.Read(ref _active);

    /// <summary>Sequences waiting to join.</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Largest batch decoded so far.</summary>
    public int PeakBatchSize => Volatile.Read(ref _peak);

    /// <summary>Decode steps (one token for every running sequence) so far.</summary>
    public long Steps => Interlocked.Read(ref _steps);

    /// <summary>Prefill forwards (one per group of joining requests) so far.</summary>
    public long Prefills => Interlocked.Read(ref _prefills);

    /// <summary>
    /// Queues <paramref name="request"/> (validated first: a <see cref="GenerationException"/> for invalid values) and returns its
    /// handle. Cancelling <paramref name="cancellationToken"/> removes the sequence from the batch at the next step.
    /// </summary>
    public BatchedSequence Submit(SequenceRequest request, CancellationToken cancellationToken = default)
    {
        request.Validate(_model.VocabSize, _capacity);
        ObjectDisposedException.ThrowIf(_stopping, this);
        var sequence = new BatchedSequence(request, cancellationToken);
        if (cancellationToken.CanBeCanceled) sequence.Registration = cancellationToken.Register(Wake);
        _pending.Enqueue(sequence);
        Wake();
        return sequence;
    }

    private void Wake()
    {
        try { _wake.Release(); } catch (ObjectDisposedException) { }
    }

    private void Run()
    {
        while (!_stopping)
        {
            try
            {
                DropCancelled();
                Admit();
                if (_rows.Count == 0) { _wake.Wait(); continue; }
                Step();
            }
            catch (Exception e) { FailRunning(e); }
        }
        var stopped = new ObjectDisposedException(nameof(ContinuousBatcher), "the server is shutting down");
        FailRunning(stopped);
        while (_pending.TryDequeue(out var s)) s.Fail(stopped);
    }

    /// <summary>Prefills waiting requests (as many as fit the batch) in one padded forward and appends their rows.</summary>
    private void Admit()
    {
        var joining = new List<BatchedSequence>();
        while (_rows.Count + joining.Count < _maxBatch && _pending.TryDequeue(out var s))
        {
            if (s.CancelRequested) s.Fail(new OperationCanceledException(s.CancellationToken));
            else joining.Add(s);
        }
        if (joining.Count == 0) return;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var prompts = joining.Select(s => s.Request.PromptIds).ToList();
        int longest = prompts.Max(p => p.Count);
        KvCache? cache = null;
        Tensor logits;
        try
        {
            using var batch = new PaddedBatch(prompts, longest, _model.Device);                              // left-padded (Bn, P)
            cache = _model.CreateKvCache(joining.Count, _cache is null ? _capacity : longest);
            logits = DecodeLoop.NextLogits(_model, batch.Current, cache, batch.CurrentMask);                 // (Bn, V)
            if (_cache is not null)
            {
                _cache.AppendRows(cache);                                                                    // rows right-aligned
                cache.Dispose();
                cache = null;
                logits = torch.cat([_logits!, logits], 0);                                                   // (B + Bn, V)
            }
        }
        catch (Exception e)
        {
            cache?.Dispose();
            foreach (var s in joining) s.Fail(e);
            if (e is not SharpSeekException) throw;
            return;
        }
        _cache ??= cache;
        _logits?.Dispose();
        _logits = logits.DetachFromDisposeScope();
        foreach (var s in joining) _rows.Add(new Row(s, _tokenizer, _model.Device));
        Interlocked.Increment(ref _prefills);
        Publish();
    }

    /// <summary>Removes the rows whose requests were cancelled (their callers see an OperationCanceledException).</summary>
    private void DropCancelled()
    {
        if (!_rows.Any(r => r.Sequence.CancelRequested)) return;
        var keep = new List<int>();
        for (int b = 0; b < _rows.Count; b++)
        {
            if (_rows[b].Sequence.CancelRequested) _rows[b].Fail(new OperationCanceledException(_rows[b].Sequence.CancellationToken));
            else keep.Add(b);
        }
        using var scope = torch.NewDisposeScope();
        Keep(keep, reorderLogits: true);
    }

    /// <summary>One token for every running sequence: choose, emit, drop finished rows, then the forward that gives the next logits.</summary>
    private void Step()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var scores = _vocabularyLimit is int limit ? new VocabularyLimitProcessor(limit).Process(_logits!, _logits!) : _logits!;   // (B, V)
        int b = _rows.Count;
        var next = Choose(scores);
        Tensor? logProbs = _rows.Any(r => r.Sequence.Request.TopLogprobs is not null) ? scores.to(ScalarType.Float32).log_softmax(-1) : null;   // (B, V)

        var keep = new List<int>(b);
        for (int i = 0; i < b; i++)
        {
            var row = _rows[i];
            (TokenLogprob, IReadOnlyList<TokenLogprob>)? lp = row.Sequence.Request.TopLogprobs is int k ? Logprobs(logProbs![i], (int)next[i], k) : null;
            if (row.Add((int)next[i], lp)) keep.Add(i);
        }
        Interlocked.Increment(ref _steps);
        Keep(keep, reorderLogits: false);
        if (_rows.Count == 0) return;

        var ids = torch.tensor(keep.Select(i => next[i]).ToArray(), device: _model.Device).view(-1, 1);   // (B', 1)
        int longest = _rows.Max(r => r.CachedLength);
        int holes = _cache!.Length - longest;
        if (_cache.Length + 1 > _cache.Capacity || (holes >= 8 && holes * 2 > _cache.Length)) _cache.DropFront(holes);
        var logits = DecodeLoop.NextLogits(_model, ids, _cache, Mask(_cache.Length + 1));                 // (B', V)
        foreach (var row in _rows) row.CachedLength++;
        _logits!.Dispose();
        _logits = logits.DetachFromDisposeScope();
    }

    /// <summary>
    /// The next token of every row: argmax for greedy rows without penalties (one batched argmax); rows that sample with
    /// the same settings are processed together, each drawing from its own generator; rows with penalties one by one.
    /// </summary>
    private long[] Choose(Tensor scores)                                           // scores: (B, V)
    {
        var next = new long[_rows.Count];
        if (_rows.Any(r => r.IsPlainGreedy))
        {
            using var host = scores.argmax(-1).cpu();
            var argmax = host.data<long>().ToArray();
            for (int i = 0; i < _rows.Count; i++) if (_rows[i].IsPlainGreedy) next[i] = argmax[i];
        }
        var groups = Enumerable.Range(0, _rows.Count).Where(i => !_rows[i].IsPlainGreedy)
            .GroupBy(i => _rows[i].HasPenalties ? (object)i : (_rows[i].Sequence.Request.Temperature, _rows[i].Sequence.Request.TopP, _rows[i].Sequence.Request.TopK));
        foreach (var group in groups)
        {
            var rows = group.ToArray();
            var request = _rows[rows[0]].Sequence.Request;
            var sub = scores.index_select(0, torch.tensor(rows.Select(i => (long)i).ToArray(), device: scores.device));   // (G, V)
            if (_rows[rows[0]].HasPenalties)
                sub = RepetitionPenalties.Apply(sub[0], _rows[rows[0]].Generated, request.PresencePenalty, request.FrequencyPenalty).unsqueeze(0);
            if (request.IsGreedy)
            {
                using var host = sub.argmax(-1).cpu();
                next[rows[0]] = host.data<long>()[0];
                continue;
            }
            var pipeline = LogitsProcessorPipeline.For(new GenerationOptions { DoSample = true, Temperature = request.Temperature, TopK = request.TopK, TopP = request.TopP });
            var probs = pipeline.Process(sub, sub).to(ScalarType.Float32).softmax(-1);                     // (G, V)
            for (int g = 0; g < rows.Length; g++)
                next[rows[g]] = probs[g].multinomial(1, generator: _rows[rows[g]].Rng).item<long>();
        }
        return next;
    }

    /// <summary>The chosen token's log-probability and the <paramref name="k"/> most likely tokens' (row of log-softmax (V)).</summary>
    private static (TokenLogprob, IReadOnlyList<TokenLogprob>) Logprobs(Tensor logProbs, int token, int k)
    {
        var chosen = new TokenLogprob(token, logProbs[token].item<float>());
        if (k == 0) return (chosen, []);
        var (values, indices) = logProbs.topk(k);
        using var v = values.cpu();
        using var ix = indices.cpu();
        var vs = v.data<float>().ToArray();
        var ids = ix.data<long>().ToArray();
        return (chosen, ids.Select((id, j) => new TokenLogprob((int)id, vs[j])).ToArray());
    }

    /// <summary>(B, S) 1 on each row's own tokens (the last CachedLength + 1 slots), or null when every row fills all S slots.</summary>
    private Tensor? Mask(int s)
    {
        if (_rows.All(r => r.CachedLength + 1 == s)) return null;
        var mask = new long[_rows.Count * s];
        for (int i = 0; i < _rows.Count; i++)
            for (int c = s - _rows[i].CachedLength - 1; c < s; c++) mask[i * s + c] = 1;
        return torch.tensor(mask, device: _model.Device).view(_rows.Count, s);
    }

    /// <summary>Keeps rows <paramref name="keep"/> (in order): cache rows, rows, and optionally the pending logits; an empty batch frees the cache.</summary>
    private void Keep(List<int> keep, bool reorderLogits)
    {
        if (keep.Count == _rows.Count) return;
        foreach (var i in Enumerable.Range(0, _rows.Count).Except(keep)) _rows[i].Dispose();
        if (keep.Count == 0)
        {
            _rows.Clear();
            Reset();
            return;
        }
        var index = torch.tensor(keep.Select(i => (long)i).ToArray(), device: _model.Device);
        _cache!.Reorder(index);
        if (reorderLogits)
        {
            var kept = _logits!.index_select(0, index).DetachFromDisposeScope();
            _logits.Dispose();
            _logits = kept;
        }
        var rows = keep.Select(i => _rows[i]).ToList();
        _rows.Clear();
        _rows.AddRange(rows);
        Publish();
    }

    private void Reset()
    {
        _cache?.Dispose();
        _cache = null;
        _logits?.Dispose();
        _logits = null;
        Publish();
    }

    private void Publish()
    {
        Volatile.Write(ref _active, _rows.Count);
        if (_rows.Count > _peak) Volatile.Write(ref _peak, _rows.Count);
    }

    /// <summary>Fails every running sequence with <paramref name="error"/> and starts over with an empty batch (the thread keeps serving).</summary>
    private void FailRunning(Exception error)
    {
        foreach (var row in _rows) { row.Fail(error); row.Dispose(); }
        _rows.Clear();
        Reset();
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        Wake();
        _thread.Join();
        _wake.Dispose();
        if (_restoreTraining) _model.train();
    }

    /// <summary>A running sequence: its request, sampling generator, generated tokens, text assembly and cache length.</summary>
    private sealed class Row : IDisposable
    {
        private readonly List<int> _generated = new();
        private readonly IncrementalDetokenizer _detok;
        private readonly StopStringFilter? _stops;
        private readonly HashSet<int> _eos;
        private readonly StringBuilder _text = new();
        private readonly List<SequenceDelta> _logprobs = new();
        private bool _sawEos;

        public Row(BatchedSequence sequence, ITextTokenizer tokenizer, Device device)
        {
            Sequence = sequence;
            var r = sequence.Request;
            CachedLength = r.PromptIds.Count;
            _detok = new IncrementalDetokenizer(tokenizer);
            _stops = r.StopStrings is { Count: > 0 } s ? new StopStringFilter(s) : null;
            _eos = r.EosIds is { } ids ? ids.ToHashSet() : tokenizer.EosId is int e ? [e] : [];
            IsPlainGreedy = r.IsGreedy && !HasPenalties;
            if (!r.IsGreedy) Rng = new torch.Generator((ulong)(r.Seed ?? Random.Shared.NextInt64(0, long.MaxValue)), device);
        }

        public BatchedSequence Sequence { get; }

        /// <summary>Tokens of this row in the cache (prompt + generated tokens fed back).</summary>
        public int CachedLength { get; set; }

        public IReadOnlyList<int> Generated => _generated;

        public torch.Generator? Rng { get; }

        public bool HasPenalties => Sequence.Request.PresencePenalty != 0 || Sequence.Request.FrequencyPenalty != 0;

        public bool IsPlainGreedy { get; }

        /// <summary>Adds the chosen token and emits its delta; returns false (and completes the sequence) when it is finished.</summary>
        public bool Add(int token, (TokenLogprob Chosen, IReadOnlyList<TokenLogprob> Top)? logprob)
        {
            var request = Sequence.Request;
            if (_eos.Contains(token))
            {
                _sawEos = true;
                return Finish(FinishReason.EndOfSequence, new StringBuilder());
            }
            _generated.Add(token);
            var delta = new StringBuilder(Filter(_detok.Add(token)));
            var info = logprob is { } lp ? new SequenceDelta("", lp.Chosen, lp.Top) : null;
            if (info is not null) _logprobs.Add(info);
            if (_stops is { Stopped: true }) return Finish(FinishReason.StopString, delta, info);
            if (_generated.Count >= request.MaxNewTokens) return Finish(FinishReason.Length, delta, info);
            Emit(delta.ToString(), info);
            return true;
        }

        private bool Finish(FinishReason reason, StringBuilder delta, SequenceDelta? info = null)
        {
            delta.Append(Filter(_detok.Flush()));
            if (_stops is not null)
            {
                if (!_stops.Stopped) delta.Append(_stops.Flush());
                if (_stops.Stopped) reason = FinishReason.StopString;
            }
            Emit(delta.ToString(), info);
            Sequence.Complete(new SequenceResult(_generated.ToArray(), _text.ToString(), reason, Sequence.Request.PromptIds.Count,
                                                 _generated.Count + (_sawEos ? 1 : 0), _logprobs.ToArray()));
            return false;
        }

        private string Filter(string decoded) => _stops is null ? decoded : _stops.Push(decoded);

        private void Emit(string text, SequenceDelta? info)
        {
            _text.Append(text);
            if (text.Length > 0 || info is not null) Sequence.Emit(new SequenceDelta(text, info?.Token, info?.TopLogprobs));
        }

        public void Fail(Exception error) => Sequence.Fail(error);

        public void Dispose()
        {
            Rng?.Dispose();
            Sequence.Registration.Dispose();
        }
    }
}
