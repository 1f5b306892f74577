using System.Runtime.CompilerServices;

namespace Transport.Nats.Tests.Infrastructure;

internal static class TestSetup
{
    // As in Transport.IntegrationTests: a few blocked test threads (child processes, waits) must not starve the code under test.
    [ModuleInitializer]
    internal static void Initialize()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
    }

    private static int _feed;

    /// <summary>A feed name no other test uses on the shared server.</summary>
    public static string NewFeed(string prefix) => $"{prefix}-{Interlocked.Increment(ref _feed)}-{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>
    /// Waits until <paramref name="condition"/> holds, re-checking it at every <paramref name="changed"/> pulse
    /// (never on a timer); fails with <paramref name="what"/> when the bound passes first.
    /// </summary>
    public static async Task WaitUntilAsync(Func<bool> condition, Pulse changed, TimeSpan bound, Func<string> what)
    {
        using var timeout = new CancellationTokenSource(bound);
        while (true)
        {
            // Taken before the check: a change between the check and the wait completes it.
            var next = changed.Next;
            if (condition())
            {
                return;
            }

            try
            {
                await next.WaitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                if (condition())
                {
                    return;
                }

                Assert.Fail($"Not within {bound}: {what()}");
            }
        }
    }
}

/// <summary>A change signal: <see cref="Next"/> completes at the next <see cref="Set"/>, so a waiter re-checks its condition then.</summary>
public sealed class Pulse
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes at the next <see cref="Set"/> after it was read.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    /// <summary>Something changed: wakes every waiter.</summary>
    public void Set() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
