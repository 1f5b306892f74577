using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Transport;

/// <summary>
/// <see cref="LifecycleChannelExtensions.WatchAsync"/>: an observer that keeps only the newest snapshot
/// (a one-slot channel that drops the older item), read as an async stream.
/// </summary>
/// <remarks>
/// Watch.W1 the current snapshot comes first; after it, each snapshot read is the newest published so
/// far, versions strictly increase, and the stream ends right after the terminal snapshot
/// (W1_current_first_then_newest_wins_and_the_stream_ends_after_the_terminal_snapshot).
/// Watch.W2 the observer never waits: a consumer that does not read only leaves the slot full, so the
/// publisher is never delayed by it (W2_a_consumer_that_does_not_read_never_holds_up_the_connection).
/// </remarks>
internal static class LifecycleStream
{
    public static async IAsyncEnumerable<LifecycleSnapshot> Watch(ILifecycleChannel lifecycle, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Watch.W2: one slot, the older item dropped on write: "newest wins", and OnNext never blocks.
        var slot = Channel.CreateBounded<LifecycleSnapshot>(new BoundedChannelOptions(1)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
            SingleWriter = false,
        });
        using var subscription = lifecycle.Subscribe(new SlotObserver(slot.Writer));
        var lastVersion = long.MinValue;
        while (await slot.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!slot.Reader.TryRead(out var snapshot) || snapshot.Version <= lastVersion)
            {
                continue; // Watch.W1: never an older or a repeated snapshot
            }

            lastVersion = snapshot.Version;
            yield return snapshot;
            if (snapshot.IsTerminal)
            {
                yield break; // Watch.W1: the terminal snapshot is the last, whether or not OnCompleted arrived yet
            }
        }

        // A channel that completed without replaying its terminal snapshot (as a bare completed
        // BehaviorSubject does to a late subscriber) still shows it: current first (Watch.W1).
        if (lastVersion == long.MinValue && lifecycle.Current is { IsTerminal: true } last)
        {
            yield return last;
        }
    }

    private sealed class SlotObserver(ChannelWriter<LifecycleSnapshot> slot) : IObserver<LifecycleSnapshot>
    {
        public void OnNext(LifecycleSnapshot value) => slot.TryWrite(value);

        public void OnCompleted() => slot.TryComplete();

        public void OnError(Exception error) => slot.TryComplete(error);
    }
}
