using Transport.Nats.Relay;

namespace Transport.Nats.Tests.Relay;

public sealed class PendingBufferTests
{
    private static Frame F(int bytes) => Frame.Binary(new byte[bytes]);

    private static int Send(PendingBuffer buffer, int max, out PendingBuffer.Entry[] sent)
    {
        var into = new PendingBuffer.Entry[Math.Max(1, max)];
        int n = buffer.TakeToSend(into, max);
        sent = into[..n];
        return n;
    }

    [Fact]
    [Trait("Invariant", "Buffer.B1")]
    public void B1_outage_is_bounded_by_count_and_bytes()
    {
        var buffer = new PendingBuffer(capacityFrames: 10, capacityBytes: 1_000, lastSequence: 0);
        for (int i = 0; i < 50; i++)
        {
            buffer.Admit(F(10), "s", i);
            Assert.True(buffer.Count <= 10);
        }

        Assert.Equal(40, buffer.Dropped);

        var bytes = new PendingBuffer(capacityFrames: 1_000, capacityBytes: 1_000, lastSequence: 0);
        for (int i = 0; i < 50; i++)
        {
            bytes.Admit(F(300), "s", i);
            Assert.True(bytes.Bytes <= 1_000);
        }

        Assert.Equal(3, bytes.Count);

        // The newest frame is always admitted, even one larger than the whole byte budget.
        bytes.Admit(F(5_000), "s", 99);
        Assert.Equal(1, bytes.Count);
        Assert.Equal(5_000, bytes.Bytes);
    }

    [Fact]
    [Trait("Invariant", "Buffer.B2")]
    public void B2_eviction_takes_the_oldest_waiting_frame_and_never_one_in_flight()
    {
        var buffer = new PendingBuffer(capacityFrames: 4, capacityBytes: 1_000_000, lastSequence: 0);
        for (int i = 0; i < 4; i++)
        {
            buffer.Admit(Frame.Text("f" + i), "s", i);
        }

        Assert.Equal(2, Send(buffer, 2, out var sent));
        Assert.Equal([1L, 2L], sent.Select(e => e.Sequence));

        // Full: f2 (the oldest waiting) goes, not f0 or f1 (in flight).
        Assert.Equal(1, buffer.Admit(Frame.Text("f4"), "s", 4));
        Assert.Equal(1, buffer.Dropped);
        Assert.Equal(0, buffer.DroppedSequenced);
        Assert.True(buffer.Acknowledge(1));
        Assert.True(buffer.Acknowledge(2));
        Assert.Equal(2, Send(buffer, 10, out sent));
        Assert.Equal(["f3", "f4"], sent.Select(e => e.Frame.GetText()));
        Assert.Equal([3L, 4L], sent.Select(e => e.Sequence));

        // Frames sent once and failed back to waiting are kept over never-sent ones; when only they are left,
        // the oldest of them goes and is counted as leaving a sequence gap.
        var retry = new PendingBuffer(capacityFrames: 2, capacityBytes: 1_000_000, lastSequence: 0);
        retry.Admit(Frame.Text("a"), "s", 0);
        retry.Admit(Frame.Text("b"), "s", 1);
        Send(retry, 2, out _);
        retry.Fail();
        retry.Admit(Frame.Text("c"), "s", 2);
        Assert.Equal(1, retry.DroppedSequenced);
        Send(retry, 5, out sent);
        Assert.Equal(["b", "c"], sent.Select(e => e.Frame.GetText()));
        Assert.Equal([2L, 3L], sent.Select(e => e.Sequence));
    }

    [Fact]
    [Trait("Invariant", "Buffer.B3")]
    public void B3_sequences_are_consecutive_and_kept_across_retries()
    {
        var buffer = new PendingBuffer(100, 1_000_000, lastSequence: 41);
        for (int i = 0; i < 5; i++)
        {
            buffer.Admit(Frame.Text("f" + i), "s", i);
        }

        Send(buffer, 3, out var first);
        Assert.Equal([42L, 43L, 44L], first.Select(e => e.Sequence));
        Assert.All(first, e => Assert.Equal(1, e.Sends));
        buffer.Fail();
        Send(buffer, 5, out var second);
        Assert.Equal([42L, 43L, 44L, 45L, 46L], second.Select(e => e.Sequence));
        Assert.Equal([2, 2, 2, 1, 1], second.Select(e => e.Sends));
    }

    [Fact]
    [Trait("Invariant", "Buffer.B5")]
    public void B5_fail_requeues_in_flight_frames_in_order()
    {
        var buffer = new PendingBuffer(100, 1_000_000, 0);
        foreach (var name in new[] { "a", "b", "c", "d" })
        {
            buffer.Admit(Frame.Text(name), "s", 0);
        }

        Send(buffer, 3, out _);
        Assert.True(buffer.Acknowledge(2)); // out of order: a is still awaited, nothing leaves yet
        Assert.Equal(3, buffer.InFlight);
        Assert.Equal(3, buffer.Fail());
        Assert.Equal(0, buffer.InFlight);
        Assert.False(buffer.Acknowledge(1)); // a late ack of the failed attempt finds nothing in flight
        Send(buffer, 10, out var again);
        Assert.Equal(["a", "b", "c", "d"], again.Select(e => e.Frame.GetText()));
        Assert.True(buffer.Acknowledge(1));
        Assert.True(buffer.Acknowledge(2));
        Assert.Equal(2, buffer.LastAcknowledgedSequence);
        Assert.Equal(2, buffer.Count);
    }

    [Fact]
    [Trait("Invariant", "Buffer.B4")]
    public void B4_conservation_under_random_operations()
    {
        var random = new Random(22);
        for (int run = 0; run < 200; run++)
        {
            var buffer = new PendingBuffer(random.Next(1, 20), random.Next(10, 2_000), 0);
            var inFlight = new List<long>();
            var seen = new HashSet<long>();
            for (int step = 0; step < 300; step++)
            {
                switch (random.Next(4))
                {
                    case 0 or 1:
                        buffer.Admit(F(random.Next(0, 200)), "s", step);
                        break;
                    case 2:
                        Send(buffer, random.Next(1, 5), out var sent);
                        foreach (var e in sent)
                        {
                            inFlight.Add(e.Sequence);
                        }

                        break;
                    default:
                        if (random.Next(5) == 0)
                        {
                            buffer.Fail();
                            inFlight.Clear();
                        }
                        else if (inFlight.Count > 0)
                        {
                            var sequence = inFlight[random.Next(inFlight.Count)];
                            inFlight.Remove(sequence);
                            buffer.Acknowledge(sequence);
                        }

                        break;
                }

                Assert.Equal(buffer.Admitted, buffer.Acknowledged + buffer.Dropped + buffer.Count);
                Assert.True(buffer.InFlight <= buffer.Count);
            }
        }
    }
}
