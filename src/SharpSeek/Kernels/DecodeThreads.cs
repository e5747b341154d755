using System.Diagnostics;

namespace SharpSeek.Kernels;

/// <summary>
/// Dedicated helper threads for the many small parallel loops of one decode step (25-50 GEMVs per token, 50-400 µs each).
/// <c>Parallel.For</c> wakes thread-pool workers through the pool's queue each time; these threads instead spin for a
/// short while after each loop (the next GEMV of the step usually follows within microseconds), then block on an event,
/// as llama.cpp's thread pool does. The caller's thread takes part; items are handed out one at a time (an interlocked
/// counter), so a helper that starts late (descheduled on a busy machine) takes fewer items instead of holding up the end,
/// and one that has not joined when the caller runs out of items is not waited for at all.
/// One loop runs at a time: a second caller while one runs falls back to <c>Parallel.For</c>.
/// </summary>
public static class DecodeThreads
{
    /// <summary>How long a helper spins for the next loop before it blocks.</summary>
    private static readonly long SpinTicks = Stopwatch.Frequency / 20000;    // 50 µs

    /// <summary>How long the caller spins for helpers still finishing an item before it yields its core.</summary>
    private static readonly long YieldTicks = Stopwatch.Frequency / 500;      // 2 ms

    private static readonly object Gate = new();
    private static Helper[] _helpers = [];
    private static Action<int>? _body;
    private static int _items, _next;            // loop size, next unclaimed item
    private static int _inside, _closed;         // helpers inside the current loop; 1 once the caller ran out of items
    private static int _participants;            // helpers taking part in the current loop (the first ones)
    private static long _generation;             // bumped once per loop: helpers wake on a change

    /// <summary>
    /// Runs <paramref name="body"/>(i) for i in [0, <paramref name="items"/>) on <paramref name="threads"/> threads (the caller's
    /// and <paramref name="threads"/> − 1 helpers); returns when every item has run. Exceptions from helpers are rethrown here.
    /// </summary>
    public static void For(int threads, int items, Action<int> body)
    {
        threads = Math.Min(threads, items);
        if (threads <= 1) { for (int i = 0; i < items; i++) body(i); return; }
        if (!Monitor.TryEnter(Gate))
        {
            Parallel.For(0, items, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
            return;
        }
        try
        {
            var helpers = EnsureHelpers(threads - 1);
            _body = body;
            _items = items;
            Volatile.Write(ref _next, 0);
            Volatile.Write(ref _closed, 0);
            Volatile.Write(ref _participants, threads - 1);
            for (int h = 0; h < threads - 1; h++) helpers[h].Error = null;
            Interlocked.Increment(ref _generation);
            for (int h = 0; h < threads - 1; h++) helpers[h].Wake.Set();
            Exception? own = null;
            try { Work(body, items); }
            catch (Exception e) { own = e; Volatile.Write(ref _next, int.MaxValue / 2); }   // helpers stop claiming; wait for them below
            // Close the loop: a helper that has not joined yet (still waking up, or descheduled on a busy machine) will not;
            // only those inside, finishing an item they claimed, are waited for.
            Interlocked.Exchange(ref _closed, 1);
            // Spin (pause instructions, no yield: on a busy machine a yield gives the core away for a whole time slice) while a
            // helper finishes its item, tens to hundreds of µs; yield only after 2 ms (that helper was descheduled mid-item).
            long waitStart = Stopwatch.GetTimestamp();
            for (int spins = 0; Volatile.Read(ref _inside) > 0; spins++)
            {
                if (spins % 64 == 63 && Stopwatch.GetTimestamp() - waitStart > YieldTicks) Thread.Yield();
                else Thread.SpinWait(4);
            }
            _body = null;
            if (own is not null) throw new AggregateException(own);
            for (int h = 0; h < threads - 1; h++)
                if (helpers[h].Error is { } error) throw new AggregateException(error);
        }
        finally { Monitor.Exit(Gate); }
    }

    /// <summary>Claims and runs items until none is left.</summary>
    private static void Work(Action<int> body, int items)
    {
        for (int i = Interlocked.Increment(ref _next) - 1; i < items; i = Interlocked.Increment(ref _next) - 1) body(i);
    }

    private static Helper[] EnsureHelpers(int count)
    {
        if (_helpers.Length >= count) return _helpers;
        var grown = new Helper[count];
        Array.Copy(_helpers, grown, _helpers.Length);
        for (int h = _helpers.Length; h < count; h++) grown[h] = new Helper(h, Volatile.Read(ref _generation));
        _helpers = grown;
        return grown;
    }

    /// <summary>One helper thread: waits for the generation to change (spinning, then blocked), joins the loop, leaves.</summary>
    private sealed class Helper
    {
        public readonly ManualResetEventSlim Wake = new(false, spinCount: 1);
        public Exception? Error;
        private readonly int _index;
        private long _seen;

        public Helper(int index, long generation)
        {
            _index = index;
            _seen = generation;
            new Thread(Loop) { IsBackground = true, Name = $"SharpSeek decode {index + 1}" }.Start();
        }

        private void Loop()
        {
            while (true)
            {
                long start = Stopwatch.GetTimestamp();
                long generation;
                int spins = 0;
                while ((generation = Volatile.Read(ref DecodeThreads._generation)) == _seen)
                {
                    if (++spins % 64 == 0 && Stopwatch.GetTimestamp() - start > SpinTicks)
                    {
                        Wake.Reset();
                        if ((generation = Volatile.Read(ref DecodeThreads._generation)) != _seen) break;
                        Wake.Wait();
                        start = Stopwatch.GetTimestamp();
                    }
                    else Thread.SpinWait(8);
                }
                _seen = generation;
                if (_index >= Volatile.Read(ref _participants)) continue;   // this loop asked for fewer helpers
                Interlocked.Increment(ref _inside);
                if (Volatile.Read(ref _closed) == 0 && Volatile.Read(ref _body) is { } body)   // joined before the caller closed it
                {
                    try { Work(body, _items); }
                    catch (Exception e) { Error = e; Volatile.Write(ref _next, int.MaxValue / 2); }
                }
                Interlocked.Decrement(ref _inside);
            }
        }
    }
}
