using System.Diagnostics;

namespace Transport.Benchmarks.Server;

/// <summary>The server behaviours the scenarios install.</summary>
internal static class Handlers
{
    private const int WriteChunkBytes = 256 * 1024;

    /// <summary>Waits for the client's "go", writes <paramref name="count"/> messages as fast as the socket takes them, then drains until close.</summary>
    public static Func<ServerConnection, Task> Flood(int opcode, int payloadBytes, long count)
    {
        int perBlock = (int)Math.Clamp(WriteChunkBytes / (payloadBytes + 10), 1, Math.Max(1, count));
        var block = new FrameBlock(opcode, payloadBytes, perBlock);
        return async connection =>
        {
            Task? writing = null;
            var draining = connection.DrainUntilCloseAsync(() => writing ?? Task.CompletedTask);
            await Task.WhenAny(connection.FirstMessage, draining).ConfigureAwait(false);
            if (connection.FirstMessage.IsCompletedSuccessfully)
            {
                writing = WriteAllAsync(connection, block, count);
                await writing.ConfigureAwait(false);
            }

            await draining.ConfigureAwait(false);
        };
    }

    private static async Task WriteAllAsync(ServerConnection connection, FrameBlock block, long count)
    {
        var stream = connection.Stream;
        for (long seq = 0; seq < count; seq += block.Frames)
        {
            int n = (int)Math.Min(block.Frames, count - seq);
            var bytes = block.Prepare(seq, n);
            for (int offset = 0; offset < bytes.Length; offset += WriteChunkBytes)
            {
                await stream.WriteAsync(bytes.Slice(offset, Math.Min(WriteChunkBytes, bytes.Length - offset))).ConfigureAwait(false);
            }
        }

        await stream.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for "go", then writes <paramref name="count"/> stamped messages at <paramref name="perSecond"/>
    /// from a dedicated thread that sleeps ~1 ms between writes: the messages that fell due meanwhile
    /// (about 10 at 10k/s, 100 at 100k/s) go out in one write, stamped immediately before it.
    /// </summary>
    public static Func<ServerConnection, Task> Paced(int opcode, int payloadBytes, long count, int perSecond, bool stampGen0 = false)
    {
        return async connection =>
        {
            Task? writing = null;
            var draining = connection.DrainUntilCloseAsync(() => writing ?? Task.CompletedTask);
            await Task.WhenAny(connection.FirstMessage, draining).ConfigureAwait(false);
            if (connection.FirstMessage.IsCompletedSuccessfully)
            {
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var thread = new Thread(() =>
                {
                    try
                    {
                        WritePaced(connection, opcode, payloadBytes, count, perSecond, stampGen0);
                        done.TrySetResult();
                    }
                    catch (Exception ex)
                    {
                        done.TrySetException(ex);
                    }
                })
                { IsBackground = true, Name = "paced writer" };
                thread.Start();
                writing = done.Task;
                await writing.ConfigureAwait(false);
            }

            await draining.ConfigureAwait(false);
        };
    }

    private static void WritePaced(ServerConnection connection, int opcode, int payloadBytes, long count, int perSecond, bool stampGen0)
    {
        var block = new FrameBlock(opcode, payloadBytes, 256);
        var stream = connection.Stream;
        double ticksPerMessage = (double)Stopwatch.Frequency / perSecond;
        long start = Stopwatch.GetTimestamp();
        long sent = 0;
        while (sent < count)
        {
            long now = Stopwatch.GetTimestamp();
            long due = Math.Min(count, (long)((now - start) / ticksPerMessage) + 1);
            if (due <= sent)
            {
                // Early: sleep (about 1 ms on Linux) rather than spin. A spinning pacer takes one of
                // the machine's two cores away from the client and Kestrel's socket thread, and the
                // tails then measure the scheduler, not the client. Messages that fell due meanwhile
                // go out together, each stamped at its write.
                Thread.Sleep(1);
                continue;
            }

            int n = (int)Math.Min(block.Frames, due - sent);
            // stampGen0: the process's gen0 collection count at the write goes with each message, so the
            // client can tell which latencies spanned a collection (same process: one GC for both).
            var bytes = block.Prepare(sent, n, Stopwatch.GetTimestamp(), stampGen0 ? GC.CollectionCount(0) + 1 : 0);
            var write = stream.WriteAsync(bytes);
            if (write.IsCompleted)
            {
                write.GetAwaiter().GetResult();
            }
            else
            {
                write.AsTask().GetAwaiter().GetResult();
            }

            sent += n;
        }
    }

    /// <summary>Writes one message (sequence = connection index) at once, then drains until close or abort.</summary>
    public static Func<ServerConnection, Task> Hello(int payloadBytes)
    {
        return async connection =>
        {
            var block = new FrameBlock(0x1, payloadBytes, 1);
            await connection.Stream.WriteAsync(block.Prepare(connection.Index, 1)).ConfigureAwait(false);
            await connection.Stream.FlushAsync().ConfigureAwait(false);
            await connection.DrainUntilCloseAsync().ConfigureAwait(false);
        };
    }

    /// <summary>Counts the client's messages until it closes.</summary>
    public static Func<ServerConnection, Task> Sink() => connection => connection.DrainUntilCloseAsync();
}
