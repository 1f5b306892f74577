using Transport.Mock;
using Transport.WebSockets.Initialization;

namespace Transport.Tests.Initialization;

/// <summary>The direct writer's gate: arrival order, cancellation, and continuations on the awaiting scheduler.</summary>
public sealed class FifoGateTests
{
    [Fact]
    [Trait("Invariant", "Gate.G1")]
    public void G1_waiters_enter_in_arrival_order_and_a_cancelled_one_leaves_the_queue()
    {
        var spawner = new ManualSpawner();
        var gate = new FifoGate();
        var order = new List<string>();
        using var cancelB = new CancellationTokenSource();
        Assert.True(gate.TryEnter());
        Assert.False(gate.TryEnter());

        Task Enter(string name, CancellationToken token) => spawner.Spawn(async () =>
        {
            try
            {
                await gate.EnterAsync(token);
            }
            catch (OperationCanceledException)
            {
                order.Add(name + " cancelled");
                return;
            }

            order.Add(name);
            gate.Exit();
        });

        var a = Enter("a", CancellationToken.None);
        var b = Enter("b", cancelB.Token);
        var c = Enter("c", CancellationToken.None);
        spawner.RunUntilIdle();
        Assert.Empty(order);

        cancelB.Cancel(); // completes b's wait at once: its continuation is queued on the pumped scheduler
        spawner.RunUntilIdle();
        Assert.Equal(["b cancelled"], order);

        gate.Exit();
        spawner.RunUntilIdle(); // no thread-pool hop: everything ran within the pump
        Assert.Equal(["b cancelled", "a", "c"], order);
        Assert.True(a.IsCompletedSuccessfully && b.IsCompletedSuccessfully && c.IsCompletedSuccessfully);
        Assert.False(gate.IsHeld);
    }
}
