using System.Globalization;
using Transport;
using Transport.Tests.Buffering;
using Transport.WebSockets.FanOut;
using Xunit.Sdk;

namespace Transport.Tests.FanOut;

/// <summary>
/// Seeded random scripts (publish, subscribe, read, detach, filter faults) checked step by step
/// against a per-subscriber reference queue. A failure names its seed; rerun it with
/// <c>FANOUT_SEED=&lt;seed&gt; dotnet test --filter FrameFanOutModelTests</c>.
/// </summary>
public sealed class FrameFanOutModelTests
{
    private const int SeedBase = 16_000_000;
    private const int Cases = 300;

    [Fact]
    [Trait("Invariant", "FanOut.F1")]
    [Trait("Invariant", "FanOut.F2")]
    [Trait("Invariant", "FanOut.F4")]
    [Trait("Invariant", "FanOut.F5")]
    [Trait("Invariant", "FanOut.F8")]
    public void F1_random_scripts_match_the_reference_model()
    {
        string? pinned = Environment.GetEnvironmentVariable("FANOUT_SEED");
        if (!string.IsNullOrWhiteSpace(pinned))
        {
            RunCase(int.Parse(pinned, CultureInfo.InvariantCulture));
            return;
        }

        long drops = 0, faults = 0, detaches = 0;
        for (int i = 0; i < Cases; i++)
        {
            var (d, f, x) = RunCase(SeedBase + i);
            drops += d;
            faults += f;
            detaches += x;
        }

        // The generator must exercise what it claims: drops under both policies, filter faults, detaches.
        Assert.True(drops > Cases * 10L, $"only {drops} drops");
        Assert.True(faults > Cases / 10, $"only {faults} filter faults");
        Assert.True(detaches > Cases, $"only {detaches} detaches");
    }

    private static (long Drops, int Faults, int Detaches) RunCase(int seed)
    {
        var random = new Random(seed);
        var h = new FanOutHarness();
        var models = new List<(FanOutSubscriber Real, Model Model)>();
        int nextId = 0, faults = 0, detaches = 0;
        h.Start();

        int steps = random.Next(150, 300);
        for (int step = 0; step < steps; step++)
        {
            int dice = random.Next(100);
            string op;
            if (dice < 10 || models.Count == 0)
            {
                var policy = random.Next(2) == 0 ? FanOutDropPolicy.DropOldest : FanOutDropPolicy.DropNewest;
                int capFrames = random.Next(1, 9);
                long capBytes = random.Next(1, 120);
                int mod = random.Next(1, 4);
                int faultAt = random.Next(4) == 0 ? nextId + random.Next(0, 60) : -1;
                Func<Frame, bool>? filter = mod == 1 && faultAt < 0
                    ? null
                    : f =>
                    {
                        int id = RingFrames.IdOf(f);
                        return id == faultAt ? throw new InvalidOperationException("boom") : id % mod == 0;
                    };
                var real = h.FanOut.Subscribe(new FanOutSubscriberOptions { CapacityFrames = capFrames, CapacityBytes = capBytes, DropPolicy = policy, Filter = filter });
                models.Add((real, new Model(capFrames, capBytes, policy, mod, faultAt)));
                op = $"subscribe {policy} {capFrames}f {capBytes}B mod {mod} faultAt {faultAt}";
            }
            else if (dice < 60)
            {
                int size = random.Next(4, 60);
                int id = nextId++;
                foreach (var (_, model) in models)
                {
                    faults += model.Offer(id, size) ? 1 : 0;
                }

                h.Publish(id, 1, size);
                op = $"publish {id} ({size} B)";
            }
            else if (dice < 92)
            {
                var (real, model) = models[random.Next(models.Count)];
                int n = random.Next(1, 6);
                op = $"read {n}";
                for (int i = 0; i < n; i++)
                {
                    bool expected = model.TryRead(out int expectedId);
                    bool actual = real.TryRead(out Frame frame);
                    Check(seed, step, op, expected == actual, $"TryRead returned {actual}, model {expected}");
                    if (actual)
                    {
                        Check(seed, step, op, RingFrames.IdOf(frame) == expectedId, $"read id {RingFrames.IdOf(frame)}, model {expectedId}");
                    }
                }
            }
            else
            {
                int index = random.Next(models.Count);
                var (real, model) = models[index];
                real.DisposeAsync().AsTask().GetAwaiter().GetResult();
                model.Detached = true;
                detaches++;
                op = "detach";
            }

            foreach (var (real, model) in models)
            {
                FanOutSubscriberStats s = real.Stats;
                Check(seed, step, op, s.Offered == model.Offered, $"Offered {s.Offered}, model {model.Offered}");
                Check(seed, step, op, s.Delivered == model.Delivered, $"Delivered {s.Delivered}, model {model.Delivered}");
                Check(seed, step, op, s.Dropped == model.Dropped, $"Dropped {s.Dropped}, model {model.Dropped}");
                Check(seed, step, op, s.Buffered == model.Queue.Count, $"Buffered {s.Buffered}, model {model.Queue.Count}");
                Check(seed, step, op, s.BufferedBytes == model.Bytes, $"BufferedBytes {s.BufferedBytes}, model {model.Bytes}");
                Check(seed, step, op, s.Detached == model.Detached, $"Detached {s.Detached}, model {model.Detached}");
                Check(seed, step, op, s.Offered == s.Delivered + s.Dropped + s.Buffered, "F1 conservation");
                Check(seed, step, op, s.Buffered <= model.CapFrames, "F2 count bound");
                Check(seed, step, op, s.BufferedBytes <= model.CapBytes || s.Buffered == 1, "F2 byte bound");
            }
        }

        return (models.Sum(m => m.Model.Dropped), faults, detaches);
    }

    private static void Check(int seed, int step, string op, bool ok, string what)
    {
        if (!ok)
        {
            throw new XunitException($"seed {seed}, step {step} ({op}): {what}");
        }
    }

    /// <summary>The reference: a list with the two drop policies, written plainly.</summary>
    private sealed class Model(int capFrames, long capBytes, FanOutDropPolicy policy, int mod, int faultAt)
    {
        public int CapFrames { get; } = capFrames;

        public long CapBytes { get; } = capBytes;

        public Queue<(int Id, int Size)> Queue { get; } = new();

        public long Bytes { get; private set; }

        public long Offered { get; private set; }

        public long Delivered { get; private set; }

        public long Dropped { get; private set; }

        public bool Detached { get; set; }

        /// <summary>Offers a frame; true when the filter faulted (the subscriber detaches).</summary>
        public bool Offer(int id, int size)
        {
            if (Detached)
            {
                return false;
            }

            if (id == faultAt)
            {
                Detached = true;
                return true;
            }

            if (id % mod != 0)
            {
                return false;
            }

            Offered++;
            if (policy == FanOutDropPolicy.DropNewest)
            {
                if (Queue.Count > 0 && (Queue.Count >= CapFrames || Bytes + size > CapBytes))
                {
                    Dropped++;
                    return false;
                }
            }
            else
            {
                while (Queue.Count > 0 && (Queue.Count >= CapFrames || Bytes + size > CapBytes))
                {
                    Bytes -= Queue.Dequeue().Size;
                    Dropped++;
                }
            }

            Queue.Enqueue((id, size));
            Bytes += size;
            return false;
        }

        public bool TryRead(out int id)
        {
            if (Queue.TryDequeue(out var item))
            {
                Bytes -= item.Size;
                Delivered++;
                id = item.Id;
                return true;
            }

            id = -1;
            return false;
        }
    }
}
