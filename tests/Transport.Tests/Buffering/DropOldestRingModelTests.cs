using System.Globalization;
using Transport;
using Transport.WebSockets.Buffering;
using Xunit.Sdk;

namespace Transport.Tests.Buffering;

/// <summary>
/// Seeded random operation sequences, each step checked against <see cref="RingReferenceModel"/>.
/// A failure names its seed; rerun just that case with <c>RING_SEED=&lt;seed&gt; dotnet test --filter DropOldestRingModelTests</c>.
/// </summary>
public sealed class DropOldestRingModelTests
{
    private const int SeedBase = 7_000_000;
    private const int Cases = 1_500;

    [Fact]
    [Trait("Invariant", "Ring.I10")]
    public void I4_random_operations_match_the_reference_model()
    {
        string? pinned = Environment.GetEnvironmentVariable("RING_SEED");
        if (!string.IsNullOrWhiteSpace(pinned))
        {
            RunCase(int.Parse(pinned, CultureInfo.InvariantCulture), caseNumber: -1);
            return;
        }

        long steps = 0;
        int deepCases = 0;
        for (int caseNumber = 0; caseNumber < Cases; caseNumber++)
        {
            (int ran, int deepest) = RunCase(SeedBase + caseNumber, caseNumber);
            steps += ran;
            deepCases += deepest > 64 ? 1 : 0;
        }

        // The generator must really exercise what it claims to: long runs, and rings deep enough
        // to grow their slot array past its initial size.
        Assert.True(steps >= Cases * 200L, $"only {steps} steps ran");
        Assert.True(deepCases >= Cases / 20, $"only {deepCases} cases grew the ring past 64 frames");
    }

    private static (int Steps, int Deepest) RunCase(int seed, int caseNumber)
    {
        var random = new Random(seed);

        // Two shapes of case. Small bounds (2 in 3): both kinds of pressure, and frames larger than
        // the whole budget, are common. Large bounds: the slot array grows past its initial 64
        // slots while wrapped, with writes outnumbering reads.
        bool large = random.Next(3) == 0;
        int capacityFrames = large ? random.Next(60, 201) : random.Next(1, 13);
        long capacityBytes = large ? random.Next(500, 20_001) : random.Next(1, 201);
        int maxSize = random.Next(0, 301);
        int operations = random.Next(200, 401);

        // Per-case mix: writes 30..80 % of steps; the rest mostly reads, some waits. Complete is
        // rare (about once per case, at a random point) so most steps run on a live ring.
        int writeCut = random.Next(30, 81);
        int readCut = writeCut + ((100 - writeCut) * 3 / 4);

        var ring = new DropOldestRing(capacityFrames, capacityBytes);
        var model = new RingReferenceModel(capacityFrames, capacityBytes);
        var check = new Checker(seed, caseNumber, capacityFrames, capacityBytes);

        // Every frame is a distinct slice of one array: ReadOnlyMemory equality (array, offset,
        // length) then identifies it exactly, even at length 0.
        var backing = new byte[(6 * operations) + maxSize + 1];
        int nextId = 0;
        int largestFrame = 0;
        int deepest = 0;
        ValueTask<bool>? pendingWait = null;
        CancellationTokenSource? pendingCts = null;

        for (int step = 0; step < operations; step++)
        {
            check.Step = step;
            int dice = random.Next(operations) == 0 ? -1 : random.Next(100);
            if (dice < 0)
            {
                bool withError = random.Next(2) == 0;
                check.Op = withError ? "complete(error)" : "complete";
                Exception? error = withError ? new TransportException(TransportErrorKind.Protocol, $"case {seed}") : null;
                model.Complete(error);
                ring.Complete(error);
            }
            else if (dice < writeCut && random.Next(4) == 0)
            {
                // Ring.I10: a batch of 0..6 frames must equal writing them one by one.
                var batch = new Frame[random.Next(0, 7)];
                for (int i = 0; i < batch.Length; i++)
                {
                    int size = random.Next(0, maxSize + 1);
                    batch[i] = random.Next(2) == 0
                        ? Frame.Text(backing.AsMemory(nextId++, size))
                        : Frame.Binary(backing.AsMemory(nextId++, size));
                    if (!model.Completed)
                    {
                        largestFrame = Math.Max(largestFrame, size);
                    }
                }

                check.Op = $"write batch of {batch.Length}";
                int expectedEvicted = 0;
                foreach (Frame frame in batch)
                {
                    expectedEvicted += model.Write(frame);
                }

                check.Equal(expectedEvicted, ring.WriteBatch(batch), "evicted by this batch");
            }
            else if (dice < writeCut)
            {
                int size = random.Next(0, maxSize + 1);
                Frame frame = random.Next(2) == 0
                    ? Frame.Text(backing.AsMemory(nextId++, size))
                    : Frame.Binary(backing.AsMemory(nextId++, size));
                check.Op = $"write {frame}";
                if (!model.Completed)
                {
                    largestFrame = Math.Max(largestFrame, size);
                }

                check.Equal(model.Write(frame), ring.Write(frame), "evicted by this write");
            }
            else if (dice < readCut && random.Next(3) == 0)
            {
                // Ring.I10: a batch read equals that many reads, stopping at the byte budget.
                var destination = new Frame[random.Next(0, 9)];
                long maxBytes = random.Next(2) == 0 ? long.MaxValue : random.Next(0, 2 * maxSize + 2);
                check.Op = $"read batch of {destination.Length}, at most {maxBytes} B";
                var expected = new List<Frame>();
                long bytes = 0;
                while (expected.Count < destination.Length && model.Count > 0 &&
                       (expected.Count == 0 || bytes + model.NextLength <= maxBytes))
                {
                    model.TryRead(out Frame next);
                    bytes += next.Length;
                    expected.Add(next);
                }

                int taken = ring.TryReadBatch(destination, maxBytes);
                check.Equal(expected.Count, taken, "TryReadBatch count");
                for (int i = 0; i < taken; i++)
                {
                    if (expected[i].Kind != destination[i].Kind || !expected[i].Payload.Equals(destination[i].Payload))
                    {
                        check.Fail($"TryReadBatch frame {i}: expected {expected[i]} at offset {OffsetOf(expected[i])}, got {destination[i]} at offset {OffsetOf(destination[i])}");
                    }
                }
            }
            else if (dice < readCut)
            {
                check.Op = "read";
                bool expectedRead = model.TryRead(out Frame expected);
                bool actualRead = ring.TryRead(out Frame actual);
                check.Equal(expectedRead, actualRead, "TryRead result");
                if (expected.Kind != actual.Kind || !expected.Payload.Equals(actual.Payload))
                {
                    check.Fail($"TryRead frame: expected {expected} at offset {OffsetOf(expected)}, got {actual} at offset {OffsetOf(actual)}");
                }
            }
            else
            {
                if (pendingWait is null)
                {
                    check.Op = "wait";
                    bool cancellable = random.Next(2) == 0;
                    pendingCts?.Dispose();
                    pendingCts = cancellable ? new CancellationTokenSource() : null;
                    ValueTask<bool> wait = ring.WaitToReadAsync(pendingCts?.Token ?? CancellationToken.None);
                    string outcome = Outcome(wait, model);
                    check.Equal(model.WaitOutcome(), outcome, "wait outcome when started");
                    pendingWait = outcome == "pending" ? wait : null;
                }
                else if (pendingCts is not null)
                {
                    check.Op = "cancel wait";
                    pendingCts.Cancel();
                    check.Equal("canceled", Outcome(pendingWait.Value, model), "cancelled wait");
                    pendingWait = null;
                }
                else
                {
                    check.Op = "none (an uncancellable wait is pending)";
                }
            }

            // A pending wait must be answered by exactly the operation that made it answerable (I7).
            if (pendingWait is { } waiting)
            {
                string expected = model.WaitOutcome();
                string actual = Outcome(waiting, model);
                check.Equal(expected, actual, "pending wait after this step");
                if (actual != "pending")
                {
                    pendingWait = null;
                }
            }

            check.Equal(model.Count, ring.Count, "Count");
            check.Equal(model.Bytes, ring.Bytes, "Bytes");
            check.Equal(model.PeakBytes, ring.PeakBytes, "PeakBytes");
            check.Equal(model.TotalLagged, ring.TotalLagged, "TotalLagged");
            check.Equal(model.TotalWritten, ring.TotalWritten, "TotalWritten");
            check.Equal(model.TotalRead, ring.TotalRead, "TotalRead");
            check.Equal(model.Completed, ring.IsCompleted, "IsCompleted");
            check.That(ring.Count <= capacityFrames, "I1: Count <= capacityFrames");
            check.That(ring.Bytes <= capacityBytes || ring.Count == 1, "I2: over the byte budget only with a single frame");
            check.That(ring.PeakBytes <= capacityBytes + largestFrame, "I2: PeakBytes <= budget + largest frame");
            check.That(ring.TotalWritten == ring.TotalRead + ring.TotalLagged + ring.Count, "I4: conservation");
            deepest = Math.Max(deepest, ring.Count);
        }

        pendingCts?.Dispose();
        return (operations, deepest);
    }

    private static int OffsetOf(Frame frame) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(frame.Payload, out ArraySegment<byte> segment) ? segment.Offset : -1;

    // Reads a wait's state without blocking; a completed wait is consumed (as an await would).
    private static string Outcome(ValueTask<bool> wait, RingReferenceModel model)
    {
        if (!wait.IsCompleted)
        {
            return "pending";
        }

        if (wait.IsCanceled)
        {
            _ = wait.AsTask().Exception;  // consume it, so the reusable waiter resets
            return "canceled";
        }

        try
        {
            return wait.CompletedResult() ? "true" : "false";
        }
        catch (TransportException error) when (ReferenceEquals(error, model.Error))
        {
            return "error";
        }
    }

    /// <summary>Assertions that name the seed, case and step, built only on failure.</summary>
    private sealed class Checker(int seed, int caseNumber, int capacityFrames, long capacityBytes)
    {
        public int Step { get; set; }

        public string Op { get; set; } = string.Empty;

        public void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
            {
                Fail($"{what}: expected {expected}, got {actual}");
            }
        }

        public void That(bool condition, string what)
        {
            if (!condition)
            {
                Fail(what);
            }
        }

        public void Fail(string what) =>
            throw new XunitException(
                $"Ring model mismatch, seed {seed} ({(caseNumber < 0 ? "pinned by RING_SEED" : $"case {caseNumber}")}), step {Step}, op '{Op}', ring {capacityFrames} frames / {capacityBytes} B: {what}. " +
                $"Reproduce with RING_SEED={seed}.");
    }
}
