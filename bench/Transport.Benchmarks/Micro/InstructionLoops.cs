using Transport.WebSockets.Buffering;

namespace Transport.Benchmarks.Micro;

/// <summary>
/// Loops of one micro operation for instruction counting, which does not depend on the machine's load:
/// <c>--child loop CASE ITERATIONS</c> runs CASE that many times on one thread. Run it under valgrind's
/// callgrind twice (N and 2N iterations) and divide the difference in instructions by N (bench/instructions.sh
/// does exactly that): the start-up, the JIT and the harness cancel out.
/// </summary>
internal static class InstructionLoops
{
    /// <summary>The cases, each one iteration = 64 messages unless stated.</summary>
    public static readonly string[] Cases =
    [
        "parse-owned", "parse-leased",
        "handoff-owned", "handoff-leased",
        "create-owned", "create-leased", // 64 x PayloadAllocator.Create from a 100 B span (and Release)
        "rent-release", // 64 x PayloadLeasePool rent + lease return, no copy, no frame
        "noop", // calibration: the loop alone (expect ~0)
    ];

    public static int Run(string name, int iterations)
    {
        Func<int> body = Build(name);
        int sink = 0;

        // Warm-up, identical in both counted runs so it cancels out: enough calls for every method to be
        // promoted, then pauses for the background JIT to install the tier-1 code (valgrind runs one thread at
        // a time, so the compiler thread needs the main thread to block).
        for (int round = 0; round < 4; round++)
        {
            for (int i = 0; i < 200; i++)
            {
                sink += body();
            }

            Thread.Sleep(300);
        }

        for (int i = 0; i < iterations; i++)
        {
            sink += body();
        }

        Console.WriteLine($"{name} x {iterations}: {sink}");
        return 0;
    }

    private static Func<int> Build(string name)
    {
        switch (name)
        {
            case "parse-owned":
            case "parse-leased":
            case "handoff-owned":
            case "handoff-leased":
                var bench = new PipeLeafBenchmarks { Leased = name.EndsWith("leased", StringComparison.Ordinal) };
                bench.Setup();
                return name.StartsWith("parse", StringComparison.Ordinal) ? bench.Parse : bench.ParseAndHandOff;
            case "create-owned":
            case "create-leased":
                var allocator = PayloadAllocator.For(name.EndsWith("leased", StringComparison.Ordinal));
                var payload = new byte[100];
                payload.AsSpan().Fill((byte)'x');
                var frames = new Frame[64];
                return () =>
                {
                    int n = 0;
                    for (int i = 0; i < frames.Length; i++)
                    {
                        frames[i] = allocator.Create(FrameKind.Text, payload);
                    }

                    for (int i = 0; i < frames.Length; i++)
                    {
                        n += frames[i].Length;
                        frames[i].Release();
                        frames[i] = default;
                    }

                    return n;
                };
            case "rent-release":
                var pool = PayloadLeasePool.Shared;
                var leases = new PayloadLease[64];
                return () =>
                {
                    for (int i = 0; i < leases.Length; i++)
                    {
                        leases[i] = pool.Rent(100);
                    }

                    for (int i = 0; i < leases.Length; i++)
                    {
                        leases[i].Return(leases[i].Token);
                    }

                    return leases.Length;
                };
            case "noop":
                return static () => 1;
            default:
                throw new ArgumentException($"unknown loop {name}; one of {string.Join(", ", Cases)}");
        }
    }
}
