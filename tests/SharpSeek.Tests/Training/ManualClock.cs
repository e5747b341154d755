namespace SharpSeek.Tests.Training;

/// <summary>A clock that moves only when told (microsecond ticks): makes the trainer's time budget deterministic in tests.</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _ticks;

    public override long TimestampFrequency => 1_000_000;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public void Advance(double seconds) => Interlocked.Add(ref _ticks, (long)Math.Round(seconds * TimestampFrequency));
}
