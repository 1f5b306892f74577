using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>
/// Lease mode's pool across threads (Lease.L4-L8, L10): payloads in per-thread slabs over a shared
/// depot (ADR 0022). Every test uses its own pool and dedicated threads joined with a generous bound;
/// nothing is timed.
/// </summary>
public sealed class LeaseSlabTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Fact]
    [Trait("Invariant", "Lease.L4")]
    public void L4_a_slab_released_on_one_thread_is_rented_on_another()
    {
        var pool = new PayloadLeasePool();

        // A thread rents (the receive loop's part) two slabs' worth and seals its slab as it ends.
        (Frame[] frames, LeaseSlab[] slabs) = OnThread(() =>
        {
            Frame[] rented = [.. Enumerable.Range(0, 8).Select(_ => Frame.Leased(FrameKind.Binary, Rent(pool, PayloadLeasePool.SoloThreshold)))];
            pool.FlushThisThread();
            return (rented, rented.Select(f => LeaseOf(f).Slab).Distinct().ToArray());
        });
        Assert.Equal(2, slabs.Length); // four 16 KiB payloads fill a 64 KiB slab
        Assert.Equal(0, pool.IdleSlabs);

        // This thread releases them all (the consumer's part): each slab goes to the depot with its last message.
        PayloadLease firstLease = LeaseOf(frames[0]);
        for (int i = 0; i < frames.Length; i++)
        {
            frames[i].Release();
            Assert.Equal(i < 3 ? 0 : i < 7 ? 1 : 2, pool.IdleSlabs);
        }

        // Another thread rents again: the longest-idle slab first, the same buffer and lease objects, nothing new.
        OnThread(() =>
        {
            PayloadLease lease = Rent(pool, 100);
            Assert.Same(slabs[0], lease.Slab);
            Assert.Same(firstLease, lease);
            Frame.Leased(FrameKind.Binary, lease).Release();
            pool.FlushThisThread();
            return 0;
        });
        Assert.Equal(2, pool.SlabsCreated);
        Assert.Equal(8, pool.LeasesCreated);
        Assert.Equal(2, pool.IdleSlabs);
        Assert.Equal(0, pool.SlabsDropped);
    }

    [Fact]
    [Trait("Invariant", "Lease.L5")]
    public void L5_the_depot_stays_within_its_bounds_and_every_slab_is_accounted_for()
    {
        var pool = new PayloadLeasePool();
        int slabs = PayloadLeasePool.MaxIdleSlabs + 10;

        OnThread(() =>
        {
            // More slabs live at once than the depot keeps: four 16 KiB payloads each (66 MB in all).
            Frame[] frames = [.. Enumerable.Range(0, 4 * slabs).Select(_ => Frame.Leased(FrameKind.Binary, Rent(pool, PayloadLeasePool.SoloThreshold)))];
            Assert.Same(LeaseOf(frames[^1]).Slab, pool.CurrentSlabOfThisThread); // one slab being written per thread
            pool.FlushThisThread();
            Assert.Null(pool.CurrentSlabOfThisThread);
            foreach (Frame frame in frames)
            {
                frame.Release();
            }

            // Large payloads: a shell each, its buffer back to ArrayPool with the message.
            Frame[] large = [.. Enumerable.Range(0, 3).Select(_ => Frame.Leased(FrameKind.Binary, Rent(pool, PayloadLeasePool.SoloThreshold + 1)))];
            Assert.All(large, f => Assert.True(LeaseOf(f).Slab.IsSolo));
            foreach (Frame frame in large)
            {
                frame.Release();
            }

            return 0;
        });

        Assert.Equal(PayloadLeasePool.MaxIdleSlabs, pool.IdleSlabs);
        Assert.InRange(pool.IdleBytes, 0, PayloadLeasePool.MaxIdleBytes);
        Assert.Equal(3, pool.IdleSoloShells);
        Assert.Equal(slabs + 3, pool.SlabsCreated);
        Assert.Equal(pool.SlabsCreated, pool.IdleSlabs + pool.IdleSoloShells + pool.SlabsDropped); // nothing unaccounted
        Assert.Equal(10, pool.SlabsDropped);
    }

    [Fact]
    [Trait("Invariant", "Lease.L6")]
    public void L6_no_payload_is_live_in_two_frames_under_many_threads()
    {
        var pool = new PayloadLeasePool();
        const int threads = 6;
        const int rounds = 20_000;
        var handOff = new ConcurrentQueue<Frame>();
        var live = new ConcurrentDictionary<PayloadLease, long>(ReferenceEqualityComparer.Instance);
        var failures = new ConcurrentQueue<string>();
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

            pool.FlushThisThread(); // this thread writes no more: its slab returns once its frames are released
            while (handOff.TryDequeue(out Frame frame))
            {
                verified[t] += Check(frame, live, failures);
            }
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
        Assert.Equal(pool.SlabsCreated, pool.IdleSlabs + pool.SlabsDropped); // every slab back, none lost

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
    [Trait("Invariant", "Lease.L10")]
    public void L10_payloads_follow_each_other_in_a_slab_and_a_slab_is_reused_only_when_empty()
    {
        var pool = new PayloadLeasePool();
        OnThread(() =>
        {
            // In rent order, each payload right after the previous one (offsets aligned to 8 bytes).
            PayloadLease[] leases = [.. new[] { 100, 1, 8, 333 }.Select(n => Rent(pool, n))];
            for (int i = 1; i < leases.Length; i++)
            {
                Assert.Same(leases[0].Slab, leases[i].Slab);
                long gap = (long)Unsafe.ByteOffset(ref MemoryMarshal.GetReference(leases[i - 1].Writable), ref MemoryMarshal.GetReference(leases[i].Writable));
                Assert.Equal((leases[i - 1].Writable.Length + 7) & ~7, gap);
            }

            Frame[] frames = [.. leases.Select(l => Frame.Leased(FrameKind.Binary, l))];
            LeaseSlab first = leases[0].Slab;

            // Sealed with one message still live: not reused, the next slab is a new one.
            pool.FlushThisThread();
            foreach (Frame frame in frames[..^1])
            {
                frame.Release();
            }

            PayloadLease next = Rent(pool, 10);
            Assert.NotSame(first, next.Slab);
            Assert.Equal(0, pool.IdleSlabs);

            // Its last message released: back in the depot, and the next slab taken is the longest idle.
            frames[^1].Release();
            Assert.Equal(1, pool.IdleSlabs);
            Frame.Leased(FrameKind.Binary, next).Release();
            pool.FlushThisThread();
            Assert.Equal(2, pool.IdleSlabs);
            Assert.Same(first, Rent(pool, 10).Slab);
            return 0;
        });
    }

    [Fact]
    [Trait("Invariant", "Lease.L8")]
    public void L8_a_thread_switching_pools_returns_each_slab_to_its_own_pool()
    {
        var first = new PayloadLeasePool();
        var second = new PayloadLeasePool();
        OnThread(() =>
        {
            PayloadLease a = Rent(first, 10);
            Assert.Same(a.Slab, first.CurrentSlabOfThisThread);
            Frame.Leased(FrameKind.Binary, a).Release();
            Assert.Equal(0, first.IdleSlabs); // still this thread's slab: not sealed

            // Using another pool seals this thread's slab of the first pool: it goes back to the first pool.
            PayloadLease b = Rent(second, 10);
            Assert.Same(second, b.Pool);
            Assert.Null(first.CurrentSlabOfThisThread);
            Assert.Equal(1, first.IdleSlabs);

            // Back to the first pool: its own slab again; the second pool's slab, sealed, returns to the second.
            PayloadLease a2 = Rent(first, 10);
            Assert.Same(a.Slab, a2.Slab);
            Assert.Same(first, a2.Pool);
            Frame.Leased(FrameKind.Binary, b).Release();
            Assert.Equal(1, second.IdleSlabs);
            Assert.Equal(0, first.IdleSlabs);
            Frame.Leased(FrameKind.Binary, a2).Release();
            Assert.Equal((1L, 1L), (first.SlabsCreated, second.SlabsCreated));
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
