using TradingAdapters;

namespace Samples.Tests.Adapters;

/// <summary>
/// Bounded waits on conditions over an adapter's live state. No polling: the condition is re-checked
/// each time the adapter signals a change (<see cref="AdapterCounters.WaitForAsync"/>: after every
/// frame it handled, every counter change, every line its recorder wrote), and the wait fails with
/// the condition's description after the bound.
/// </summary>
internal static class Eventually
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    public static Task HoldsAsync(AdapterCounters changes, Func<bool> condition, string what) =>
        HoldsAsync(changes, condition, () => what);

    /// <summary>As above; <paramref name="what"/> is composed at the timeout, so it shows the state then.</summary>
    public static async Task HoldsAsync(AdapterCounters changes, Func<bool> condition, Func<string> what)
    {
        using var bound = new CancellationTokenSource(Bound);
        try
        {
            await changes.WaitForAsync(condition, bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (bound.IsCancellationRequested)
        {
            throw new TimeoutException($"Timed out waiting for: {what()}");
        }
    }
}
