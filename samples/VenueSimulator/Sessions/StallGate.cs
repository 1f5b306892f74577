namespace VenueSimulator.Sessions;

/// <summary>
/// Holds a session's sends and reads until a deadline. Stalls extend, never shorten: two
/// overlapping stalls end at the later deadline. Real time (Environment.TickCount64) is
/// fine here: this is the simulated server, not the transport under test.
/// </summary>
internal sealed class StallGate
{
    private long _stalledUntilMs;

    public void StallFor(TimeSpan duration)
    {
        var until = Environment.TickCount64 + (long)duration.TotalMilliseconds;
        long current;
        do
        {
            current = Interlocked.Read(ref _stalledUntilMs);
            if (current >= until) return;
        }
        while (Interlocked.CompareExchange(ref _stalledUntilMs, until, current) != current);
    }

    public async ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            // Re-read after each wait: the stall may have been extended meanwhile.
            var remaining = Interlocked.Read(ref _stalledUntilMs) - Environment.TickCount64;
            if (remaining <= 0) return;
            await Task.Delay(TimeSpan.FromMilliseconds(remaining), cancellationToken).ConfigureAwait(false);
        }
    }
}
