using TradingAdapters;
using Transport;

namespace Samples.Tests.Adapters;

/// <summary>The adapters' change signal: a wait completes on the change that makes its condition true, without polling.</summary>
public sealed class ChangeSignalTests
{
    [Fact]
    public async Task A_wait_completes_on_the_pulse_after_its_condition_became_true_and_not_before()
    {
        var signal = new ChangeSignal();
        var value = 0;
        var wait = signal.WaitForAsync(() => Volatile.Read(ref value) >= 2);

        Volatile.Write(ref value, 1);
        signal.Pulse();
        Volatile.Write(ref value, 2);
        Assert.False(wait.IsCompleted); // no pulse yet for the change that satisfies it
        signal.Pulse();

        await wait.WaitAsync(Eventually.Bound);
    }

    [Fact]
    public async Task A_condition_already_true_completes_at_once_and_a_cancelled_wait_ends()
    {
        var signal = new ChangeSignal();
        await signal.WaitForAsync(() => true).WaitAsync(Eventually.Bound);

        using var cancel = new CancellationTokenSource();
        var never = signal.WaitForAsync(() => false, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => never.WaitAsync(Eventually.Bound));
    }

    [Fact]
    public async Task Every_frame_the_adapter_handles_wakes_a_waiter_on_its_book()
    {
        var adapter = new BinanceLikeAdapter(["BTC-USD"]);
        var pongs = adapter.Counters.WaitForAsync(() => adapter.Counters.Pongs == 1);
        var frames = adapter.Counters.WaitForAsync(() => adapter.Counters.Frames == 2);

        adapter.HandleFrame(Frame.Text("""{"type":"pong","id":1}"""));
        await pongs.WaitAsync(Eventually.Bound);
        Assert.False(frames.IsCompleted);
        adapter.HandleFrame(Frame.Text("not json"));
        await frames.WaitAsync(Eventually.Bound);
    }
}
