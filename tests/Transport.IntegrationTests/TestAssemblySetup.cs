using System.Runtime.CompilerServices;

namespace Transport.IntegrationTests;

/// <summary>
/// Real-socket tests on a 2-core machine: collections run one at a time (xunit.runner.json), and the
/// thread pool starts with enough workers that a few blocked test threads (xunit's own, Kestrel's
/// start-up, child processes) cannot starve the stack under test. Without this, about one full run
/// in ten saw a connection whose first attempt waited 15 s in the pool's queue with 3 workers; the
/// library itself was not blocked (a stack dump after the stall showed every worker idle), so this
/// is treated as test-environment starvation. See README "Known limits".
/// </summary>
internal static class TestAssemblySetup
{
    [ModuleInitializer]
    internal static void Initialize()
    {
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 16), Math.Max(io, 16));
    }
}
