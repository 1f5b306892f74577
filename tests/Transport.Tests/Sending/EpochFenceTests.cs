using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Transport.Tests.Telemetry;
using Transport.WebSockets.Sending;

namespace Transport.Tests.Sending;

/// <summary>Every epoch-pin rule, on the fence alone and through the sink that depends on it.</summary>
public sealed class EpochFenceTests
{
    private static SendRequest Tracked(long? pinned = null) => new(Frame.Text("x"), new SendOptions(PinnedEpoch: pinned), tracked: true);

    private static SendRequest Untracked(long? pinned = null) => new(Frame.Text("x"), new SendOptions(PinnedEpoch: pinned), tracked: false);

    [Fact]
    public void Starts_at_epoch_0_with_none_ended_and_advances_by_one()
    {
        var fence = new EpochFence(NullLogger.Instance);
        Assert.Equal(0, fence.CurrentEpoch);
        Assert.Equal(-1, fence.LastEndedEpoch);

        Assert.Equal(1, fence.Advance());
        Assert.Equal(1, fence.CurrentEpoch);
    }

    [Fact]
    [Trait("Invariant", "Fence.E1")]
    public void A_pin_to_an_epoch_not_started_is_invalid()
    {
        var fence = new EpochFence(NullLogger.Instance);
        var sink = new FrameSink(new SendQueue(8, 1024), fence);

        Assert.Equal(SendStatus.Invalid, fence.CheckTrySend(SendOptions.PinnedTo(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => fence.ThrowIfNotStarted(SendOptions.PinnedTo(1), "options"));
        Assert.Equal(SendStatus.Invalid, sink.TrySend(Frame.Text("x"), SendOptions.PinnedTo(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = sink.SendAsync(Frame.Text("x"), SendOptions.PinnedTo(1)); });

        fence.ThrowIfNotStarted(SendOptions.PinnedTo(0), "options");
        Assert.Null(fence.CheckTrySend(SendOptions.PinnedTo(0)));
        Assert.Null(fence.CheckTrySend(SendOptions.Default));
    }

    [Fact]
    [Trait("Invariant", "Fence.E2")]
    public async Task A_pin_to_an_ended_epoch_is_refused_at_the_door()
    {
        var fence = new EpochFence(NullLogger.Instance);
        var queue = new SendQueue(8, 1024);
        var sink = new FrameSink(queue, fence);
        fence.EndEpoch(0, queue);
        fence.Advance();

        Assert.Equal(SendStatus.StaleEpoch, fence.CheckTrySend(SendOptions.PinnedTo(0)));
        Assert.Equal(TransportErrorKind.StaleEpoch, fence.RefuseEnded(SendOptions.PinnedTo(0))!.Kind);
        Assert.Null(fence.RefuseEnded(SendOptions.PinnedTo(1)));
        Assert.Equal(SendStatus.StaleEpoch, sink.TrySend(Frame.Text("x"), SendOptions.PinnedTo(0)));
        var error = await Assert.ThrowsAsync<TransportException>(async () => await sink.SendAsync(Frame.Text("x"), SendOptions.PinnedTo(0)));
        Assert.Equal(TransportErrorKind.StaleEpoch, error.Kind);
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    [Trait("Invariant", "Fence.E3")]
    public async Task The_writer_of_an_epoch_admits_only_unpinned_frames_and_its_own()
    {
        var fence = new EpochFence(NullLogger.Instance);
        fence.Advance();

        Assert.True(fence.AdmitToWrite(Tracked(), 1));
        Assert.True(fence.AdmitToWrite(Tracked(1), 1));

        var other = Tracked(0);
        Assert.False(fence.AdmitToWrite(other, 1));
        var error = await Assert.ThrowsAsync<TransportException>(() => other.Completion);
        Assert.Equal(TransportErrorKind.StaleEpoch, error.Kind);
    }

    [Fact]
    [Trait("Invariant", "Fence.E4")]
    public async Task Ending_an_epoch_fails_the_frames_pinned_to_it_and_keeps_the_rest()
    {
        var fence = new EpochFence(NullLogger.Instance);
        fence.Advance(); // epoch 1 is current
        var queue = new SendQueue(8, 1024);
        var pinnedEarlier = Tracked(0);
        var pinnedNow = Tracked(1);
        var unpinned = Tracked();
        var untrackedPinned = Untracked(1);
        Assert.Equal(SendStatus.Accepted, queue.TryEnqueue(pinnedEarlier));
        Assert.Equal(SendStatus.Accepted, queue.TryEnqueue(pinnedNow));
        Assert.Equal(SendStatus.Accepted, queue.TryEnqueue(unpinned));
        Assert.Equal(SendStatus.Accepted, queue.TryEnqueue(untrackedPinned));

        fence.EndEpoch(1, queue);

        Assert.Equal(1, fence.LastEndedEpoch);
        Assert.Equal(1, queue.Count);
        Assert.True(queue.TryDequeue(out var left));
        Assert.Same(unpinned, left);
        Assert.Equal(TransportErrorKind.StaleEpoch, (await Assert.ThrowsAsync<TransportException>(() => pinnedEarlier.Completion)).Kind);
        Assert.Equal(TransportErrorKind.StaleEpoch, (await Assert.ThrowsAsync<TransportException>(() => pinnedNow.Completion)).Kind);
        Assert.Equal(1, fence.FailedAfterAccept);
    }

    [Fact]
    [Trait("Invariant", "Fence.E5")]
    public async Task An_untracked_failure_is_counted_and_logged_a_tracked_one_fails_its_caller()
    {
        var logs = new CapturingLoggerFactory();
        var fence = new EpochFence(logs.CreateLogger("test"));
        var sink = new FrameSink(new SendQueue(8, 1024), fence);
        var tracked = Tracked();

        fence.Fail(Untracked(), TransportException.Shutdown());
        fence.Fail(tracked, TransportException.Shutdown());

        Assert.Equal(1, fence.FailedAfterAccept);
        Assert.Equal(1, sink.FailedAfterAccept);
        Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning);
        await Assert.ThrowsAsync<TransportException>(() => tracked.Completion);
    }
}
