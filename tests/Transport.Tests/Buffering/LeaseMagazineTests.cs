using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>
/// Lease mode's pool across threads (Lease.L4-L8): per-thread magazines over a shared depot. Every
/// test uses its own pool and dedicated threads joined with a generous bound; nothing is timed.
/// </summary>
public sealed class LeaseMagazineTests
{
    private const int Magazine = PayloadLeasePool.MagazineSize;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    [Trait("Invariant", "Lease.L4")]
    public void L4_leases_released_on_one_thread_are_rented_on_another()
    {
        var pool = new PayloadLeasePool();
        const int n = 4 * Magazine;

        // This thread rents (the receive loop's part): every lease is new, its magazines stay empty.
        Frame[] frames = [.. Enumerable.Range(0, n).Select(i => Frame.Leased(FrameKind.Binary, Rent(pool, 1 + (i % 100))))];
        var originals = frames.Select(LeaseOf).ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.Equal(n, pool.Created);
        Assert.Equal(0, pool.CachedOnThisThread.Count);

        // Another thread releases them all (the consumer's part): it keeps two magazines, the rest goes to the depot.
        int cachedThere = OnThread(() =>
        {
            foreach (Frame frame in frames)
            {
                frame.Release();
            }

            return pool.CachedOnThisThread.Count;
        });
        Assert.InRange(cachedThere, 1, 2 * Magazine);
        Assert.Equal(n - cachedThere, pool.IdleCount);
        Assert.Equal(n, pool.Created);

        // Back here: the next magazine of rents comes from the depot, as the same lease objects.
        int idleBefore = pool.IdleCount;
        for (int i = 0; i < Magazine; i++)
        {
            PayloadLease lease = Rent(pool, 10);
            Assert.Contains(lease, originals);
        }

        Assert.Equal(idleBefore - Magazine, pool.IdleCount);
        Assert.Equal(n, pool.Created);
        Assert.Equal(0, pool.Dropped);
    }

    [Theory]
    [Trait("Invariant", "Lease.L5")]
    [InlineData(100, PayloadLeasePool.MaxIdle + (3 * Magazine) + 10)]   // the count bound binds
    [InlineData(8 * 1024, 2_500)]                                        // 20 MB of arrays: the bytes bound binds
    [InlineData(64 * 1024, 40)]                                          // a magazine's bytes budget binds
    public void L5_depot_and_thread_magazines_stay_within_their_bounds(int payloadBytes, int leases)
    {
        var pool = new PayloadLeasePool();
        Frame[] frames = OnThread(() => Enumerable.Range(0, leases).Select(_ => Frame.Leased(FrameKind.Binary, Rent(pool, payloadBytes))).ToArray());
        Assert.Equal(leases, pool.Created);

        (int Count, long Bytes) cached = OnThread(() =>
        {
            foreach (Frame frame in frames)
            {
                frame.Release();
            }

            return pool.CachedOnThisThread;
        });

        Assert.InRange(pool.IdleCount, 0, PayloadLeasePool.MaxIdle);
        Assert.InRange(pool.IdleBytes, 0, PayloadLeasePool.MaxIdleBytes);
        Assert.InRange(cached.Count, 0, 2 * Magazine);
        Assert.InRange(cached.Bytes, 0, 2 * PayloadLeasePool.MagazineMaxBytes);

        // Conservation: every lease is in the depot, in the releasing thread's magazines, or dropped.
        Assert.Equal(pool.Created, pool.IdleCount + cached.Count + pool.Dropped);

        long total = (long)leases * payloadBytes;
        if (leases > PayloadLeasePool.MaxIdle + (2 * Magazine))
        {
            Assert.True(pool.Dropped > 0, "more leases than the bounds hold were released, none dropped");
        }

        if (total > PayloadLeasePool.MaxIdleBytes + (2 * PayloadLeasePool.MagazineMaxBytes))
        {
            Assert.True(pool.IdleBytes < (long)pool.IdleCount * payloadBytes, "the depot kept every array beyond its bytes bound");
        }
    }

    [Fact]
    [Trait("Invariant", "Lease.L6")]
    public void L6_no_lease_is_live_in_two_frames_under_many_threads()
    {
        var pool = new PayloadLeasePool();
        const int threads = 6;
        const int rounds = 20_000;
        var handOff = new ConcurrentQueue<Frame>();
        var live = new ConcurrentDictionary<PayloadLease, long>(ReferenceEqualityComparer.Instance);
        var failures = new ConcurrentQueue<string>();
        var cached = new int[threads];
        using var start = new Barrier(threads);
        long[] verified = new long[threads];

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait(Bound);
            long next = (long)t << 40;
            for (int round = 0; round < rounds; round++)
            {
                // Rent 1-4 frames, each filled with a pattern of its own id, and hand them to any thread.
                for (int k = 0; k <= round % 4; k++)
                {
                    long id = next++;
                    PayloadLease lease = pool.Rent(8 + (int)((id * 37) % 600));
                    if (!live.TryAdd(lease, id))
                    {
                        failures.Enqueue($"lease rented while live in frame {live[lease]}");
                    }

                    Fill(lease.Writable, id);
                    handOff.Enqueue(Frame.Leased(FrameKind.Binary, lease));
                }

                // Take as many (perhaps another thread's), check each reads back its own pattern, release.
                for (int k = 0; k <= round % 4 && handOff.TryDequeue(out Frame frame); k++)
                {
                    verified[t] += Check(frame, live, failures);
                }
            }

            while (handOff.TryDequeue(out Frame frame))
            {
                verified[t] += Check(frame, live, failures);
            }

            cached[t] = pool.CachedOnThisThread.Count;
        })).ToArray();

        foreach (Thread worker in workers)
        {
            worker.Start();
        }

        foreach (Thread worker in workers)
        {
            Assert.True(worker.Join(Bound), "a worker hung");
        }

        Assert.Empty(failures);
        Assert.Empty(live);
        Assert.Empty(handOff);
        Assert.Equal(threads * (rounds / 4 * 10L), verified.Sum()); // 1+2+3+4 frames per 4 rounds
        Assert.Equal(pool.Created, pool.IdleCount + cached.Sum() + pool.Dropped);

        static long Check(Frame frame, ConcurrentDictionary<PayloadLease, long> live, ConcurrentQueue<string> failures)
        {
            ReadOnlySpan<byte> payload = frame.Payload.Span;
            long id = MemoryMarshal.Read<long>(payload);
            Span<byte> expected = stackalloc byte[payload.Length];
            Fill(expected, id);
            if (!payload.SequenceEqual(expected))
            {
                failures.Enqueue($"frame {id}: payload overwritten while live");
            }

            if (!live.TryRemove(LeaseOf(frame), out long owner) || owner != id)
            {
                failures.Enqueue($"frame {id}: its lease was not live for it");
            }

            frame.Release(); // after the bookkeeping: once released, another thread may rent it at once
            return 1;
        }
    }

    [Fact]
    [Trait("Invariant", "Lease.L7")]
    public void L7_two_thread_rent_release_allocates_under_8_bytes_per_message()
    {
        var pool = new PayloadLeasePool();
        const int warmUp = 200_000;
        const int measured = 1_000_000;
        const int inFlight = 1_024; // a bounded ring's worth of frames in flight, as the receive path has
        var ring = new DropOldestRing(capacityFrames: 1 << 20, capacityBytes: 1L << 40);
        byte[] message = new byte[100];
        long producerBytes = 0;
        long consumerBytes = 0;
        long checksum = 0;

        var producer = new Thread(() =>
        {
            var batch = new Frame[64];
            Produce(warmUp);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Produce(measured);
            producerBytes = GC.GetAllocatedBytesForCurrentThread() - before;

            void Produce(int count)
            {
                var spin = default(SpinWait);
                for (int sent = 0; sent < count; sent += batch.Length)
                {
                    while (ring.Count > inFlight)
                    {
                        spin.SpinOnce(sleep1Threshold: -1);
                    }

                    for (int i = 0; i < batch.Length; i++)
                    {
                        message[0] = (byte)(sent + i);
                        PayloadLease lease = pool.Rent(message.Length);
                        message.CopyTo(lease.Writable);
                        batch[i] = Frame.Leased(FrameKind.Binary, lease);
                    }

                    ring.WriteBatch(batch);
                }
            }
        });

        var consumer = new Thread(() =>
        {
            var batch = new Frame[64];
            Consume(warmUp);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Consume(measured);
            consumerBytes = GC.GetAllocatedBytesForCurrentThread() - before;

            void Consume(int count)
            {
                var spin = default(SpinWait);
                for (int received = 0; received < count;)
                {
                    int taken = ring.TryReadBatch(batch);
                    if (taken == 0)
                    {
                        spin.SpinOnce(sleep1Threshold: -1);
                        continue;
                    }

                    for (int i = 0; i < taken; i++)
                    {
                        checksum += batch[i].Payload.Span[0] == (byte)(received + i) ? 1 : 0;
                        batch[i].Release();
                    }

                    received += taken;
                }
            }
        });

        producer.Start();
        consumer.Start();
        Assert.True(producer.Join(Bound) && consumer.Join(Bound), "producer or consumer hung");

        Assert.Equal(warmUp + measured, checksum); // every frame read back its own first byte, in order
        double perMessage = (double)(producerBytes + consumerBytes) / measured;
        Assert.True(perMessage < 8, $"{perMessage:0.00} B allocated per message (producer {producerBytes} B, consumer {consumerBytes} B)");
    }

    [Fact]
    [Trait("Invariant", "Lease.L8")]
    public void L8_a_thread_switching_pools_returns_each_lease_to_its_own_pool()
    {
        var first = new PayloadLeasePool();
        var second = new PayloadLeasePool();
        OnThread(() =>
        {
            PayloadLease a = Rent(first, 10);
            Frame.Leased(FrameKind.Binary, a).Release();
            Assert.Equal((1, a.Capacity), first.CachedOnThisThread);

            // Using another pool hands this thread's magazines back to the first pool's depot.
            PayloadLease b = Rent(second, 10);
            Assert.Same(second, b.Pool);
            Assert.Equal(0, first.CachedOnThisThread.Count);
            Assert.Equal(1, first.IdleCount);

            // A lease of the first pool released here goes back to the first pool, not to the second.
            Frame.Leased(FrameKind.Binary, b).Release();
            PayloadLease a2 = Rent(first, 10);
            Assert.Same(a, a2);
            Assert.Same(first, a2.Pool);
            Assert.Equal(1, second.IdleCount); // b, handed back when this thread switched to the first pool
            Frame.Leased(FrameKind.Binary, a2).Release();
            Assert.Equal(1, first.CachedOnThisThread.Count);
            Assert.Equal(1, first.Created);
            Assert.Equal(1, second.Created);
            return 0;
        });
    }

    private static PayloadLease Rent(PayloadLeasePool pool, int length)
    {
        PayloadLease lease = pool.Rent(length);
        lease.Writable.Fill(0xAB);
        return lease;
    }

    private static PayloadLease LeaseOf(Frame frame)
    {
        Assert.True(MemoryMarshal.TryGetMemoryManager(frame.Payload, out PayloadLease? lease));
        return lease;
    }

    // The id in the first 8 bytes, then bytes derived from it and their position.
    private static void Fill(Span<byte> payload, long id)
    {
        MemoryMarshal.Write(payload, in id);
        for (int i = 8; i < payload.Length; i++)
        {
            payload[i] = (byte)((id * 31) + i);
        }
    }

    private static T OnThread<T>(Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = work();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        Assert.True(thread.Join(Bound), "the thread hung");
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }

        return result;
    }
}
