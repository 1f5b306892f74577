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

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds or the bound passes (then fails with <paramref name="what"/>).</summary>
    public static async Task EventuallyAsync(Func<bool> condition, TimeSpan bound, Func<string> what)
    {
        var deadline = Environment.TickCount64 + (long)bound.TotalMilliseconds;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                Assert.Fail($"Not within {bound}: {what()}");
            }

            await Task.Delay(20);
        }
    }
}
