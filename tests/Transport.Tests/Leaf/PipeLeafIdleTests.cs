using System.Buffers;
using Transport.WebSockets;
using Transport.WebSockets.Pipelines;

namespace Transport.Tests.Leaf;

/// <summary>
/// PipeLeaf.R9 and Reassembly.B3: a Pipelines-leaf receive waiting for data holds no read buffer and no
/// reassembly buffer. Counted with a counting memory pool and the reassembly buffer's held bytes over a
/// scripted stream whose reads complete only when the test feeds bytes (no timing).
/// </summary>
public sealed class PipeLeafIdleTests
{
    [Fact]
    [Trait("Invariant", "PipeLeaf.R9")]
    public async Task R9_a_receive_waiting_for_data_holds_no_read_buffer()
    {
        var (connection, stream, pool) = Open();
        await using var _ = connection;
        var reader = (FrameReader)connection.Receiver;

        stream.Feed(ServerFrame(0x1, fin: true, Filled(100)));
        var first = await connection.Receiver.ReceiveAsync(CancellationToken.None);
        Assert.Equal(FrameKind.Text, first.Kind);
        Assert.Equal(100, first.Length);
        Assert.Equal(1, pool.Rentals); // the read that brought it

        for (int i = 0; i < 3; i++)
        {
            var waiting = connection.Receiver.ReceiveAsync(CancellationToken.None);
            Assert.False(waiting.IsCompleted);
            Assert.Equal(0, pool.Outstanding); // the read buffer went back
            Assert.Equal(0, stream.PendingReadLength); // the socket wait is a zero-byte read
            Assert.Equal(0, reader.ReassemblyHeldBytes);

            stream.Feed(ServerFrame(0x2, fin: true, Filled(1000 + i)));
            var frame = await waiting;
            Assert.Equal(FrameKind.Binary, frame.Kind);
            Assert.Equal(1000 + i, frame.Length);
        }
    }

    [Fact]
    [Trait("Invariant", "PipeLeaf.R9")]
    public async Task R9_a_frame_split_across_reads_is_held_only_until_it_is_whole()
    {
        var (connection, stream, pool) = Open();
        await using var _ = connection;
        var reader = (FrameReader)connection.Receiver;
        var bytes = ServerFrame(0x2, fin: true, Filled(3000));

        var waiting = connection.Receiver.ReceiveAsync(CancellationToken.None);
        stream.Feed(bytes[..1000]);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(0, pool.Outstanding);
        Assert.True(reader.ReassemblyHeldBytes > 0, "the message in flight is held");

        stream.Feed(bytes[1000..]);
        var frame = await waiting;
        Assert.Equal(3000, frame.Length);
        Assert.True(frame.Payload.Span.SequenceEqual(Filled(3000)));

        var next = connection.Receiver.ReceiveAsync(CancellationToken.None);
        Assert.False(next.IsCompleted);
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(0, reader.ReassemblyHeldBytes);
        Assert.Equal(0, stream.PendingReadLength);
    }

    [Fact]
    [Trait("Invariant", "Reassembly.B3")]
    public async Task B3_a_fragmented_message_releases_its_reassembly_buffer_when_done()
    {
        var (connection, stream, pool) = Open();
        await using var _ = connection;
        var reader = (FrameReader)connection.Receiver;

        var waiting = connection.Receiver.ReceiveAsync(CancellationToken.None);
        stream.Feed(ServerFrame(0x1, fin: false, Filled(500)));
        Assert.False(waiting.IsCompleted);
        Assert.True(reader.ReassemblyHeldBytes >= 500);

        stream.Feed(ServerFrame(0x0, fin: true, Filled(700)));
        var frame = await waiting;
        Assert.Equal(1200, frame.Length);

        var next = connection.Receiver.ReceiveAsync(CancellationToken.None);
        Assert.False(next.IsCompleted);
        Assert.Equal(0, reader.ReassemblyHeldBytes);
        Assert.Equal(0, pool.Outstanding);
    }

    private static (PipeWebSocketConnection Connection, ScriptedStream Stream, CountingPool Pool) Open()
    {
        var pool = new CountingPool();
        var stream = new ScriptedStream();
        var options = new PipeWebSocketConnectorOptions { ReceivePool = pool };
        var handshake = new HandshakeResponse(101, null, [], new Dictionary<string, IReadOnlyList<string>>());
        return (new PipeWebSocketConnection(stream, null, handshake, options, null), stream, pool);
    }

    private static byte[] Filled(int length) => Enumerable.Range(0, length).Select(i => (byte)('a' + (i % 26))).ToArray();

    private static byte[] ServerFrame(int opcode, bool fin, byte[] payload)
    {
        var header = new List<byte> { (byte)((fin ? 0x80 : 0) | opcode) };
        if (payload.Length < 126)
        {
            header.Add((byte)payload.Length);
        }
        else
        {
            header.Add(126);
            header.Add((byte)(payload.Length >> 8));
            header.Add((byte)payload.Length);
        }

        return [.. header, .. payload];
    }

    /// <summary>Counts what the socket reader rents and has not returned.</summary>
    private sealed class CountingPool : MemoryPool<byte>
    {
        private int _outstanding;

        public int Outstanding => Volatile.Read(ref _outstanding);

        public int Rentals { get; private set; }

        public override int MaxBufferSize => int.MaxValue;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
        {
            Interlocked.Increment(ref _outstanding);
            Rentals++;
            return new Owner(this, new byte[minBufferSize < 0 ? 4096 : minBufferSize]);
        }

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Owner(CountingPool pool, byte[] array) : IMemoryOwner<byte>
        {
            private int _disposed;

            public Memory<byte> Memory => array;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref pool._outstanding);
                }
            }
        }
    }

    /// <summary>
    /// The server side of a socket, scripted: a read completes when the test feeds bytes (a zero-byte read
    /// completes with 0 once bytes are there, as NetworkStream's and SslStream's do); writes are discarded.
    /// Continuations run inline on the feeding thread, so each step is deterministic.
    /// </summary>
    private sealed class ScriptedStream : Stream
    {
        private readonly object _gate = new();
        private readonly Queue<byte> _bytes = new();
        private TaskCompletionSource<int>? _pending;
        private Memory<byte> _pendingBuffer;

        /// <summary>Length of the buffer under the read that waits now; -1 when none waits.</summary>
        public int PendingReadLength { get; private set; } = -1;

        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Feed(byte[] bytes)
        {
            TaskCompletionSource<int>? pending;
            int result = 0;
            lock (_gate)
            {
                foreach (var b in bytes)
                {
                    _bytes.Enqueue(b);
                }

                pending = _pending;
                _pending = null;
                if (pending is not null)
                {
                    result = Take(_pendingBuffer.Span);
                    PendingReadLength = -1;
                }
            }

            // Completed with no synchronization context, so the reader's continuations run inline on this
            // thread (xunit's context would post them to the thread pool) and the test sees each step done.
            var context = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(null);
            try
            {
                pending?.TrySetResult(result);
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(context);
            }
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            lock (_gate)
            {
                if (_bytes.Count > 0)
                {
                    return new ValueTask<int>(Take(buffer.Span));
                }

                _pending = new TaskCompletionSource<int>();
                _pendingBuffer = buffer;
                PendingReadLength = buffer.Length;
                var pending = _pending;
                cancellationToken.Register(() => pending.TrySetCanceled(cancellationToken));
                return new ValueTask<int>(pending.Task);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => default;

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        protected override void Dispose(bool disposing)
        {
            TaskCompletionSource<int>? pending;
            lock (_gate)
            {
                pending = _pending;
                _pending = null;
            }

            pending?.TrySetResult(0); // end of stream
            base.Dispose(disposing);
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
        }

        private int Take(Span<byte> destination)
        {
            int n = 0;
            while (n < destination.Length && _bytes.Count > 0)
            {
                destination[n++] = _bytes.Dequeue();
            }

            return n;
        }
    }
}
