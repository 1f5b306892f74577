namespace Samples.Tests.Adapters;

/// <summary>
/// Bounded waits on conditions over live counters. Adapter counters have no change signal (the
/// tick path stays cheap), so this re-checks every few milliseconds and fails with the condition's
/// description after the bound: a condition wait, not a fixed sleep.
/// </summary>
internal static class Eventually
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    public static Task HoldsAsync(Func<bool> condition, string what, TimeSpan? bound = null) =>
        HoldsAsync(condition, () => what, bound);

    /// <summary>As above; <paramref name="what"/> is composed at the timeout, so it shows the state then.</summary>
    public static async Task HoldsAsync(Func<bool> condition, Func<string> what, TimeSpan? bound = null)
    {
        // A monotonic clock: a wall clock stepped by the host would stretch or cut the bound.
        var deadline = Environment.TickCount64 + (long)(bound ?? Bound).TotalMilliseconds;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline) throw new TimeoutException($"Timed out waiting for: {what()}");
            await Task.Delay(5).ConfigureAwait(false);
        }
    }
}
