using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using Transport.WebSockets.Pipelines;

namespace Transport.Tests.Leaf.Differential;

/// <summary>Plays a <see cref="ServerCase"/> to each client in memory, one socket read at a time, on the calling thread.</summary>
internal static class ClientRunners
{
    private const int MaxZeroProgressReceives = 200;
    private static readonly TimeSpan StallBound = TimeSpan.FromSeconds(10);

    /// <summary>The Pipelines leaf's reader (and its writer, for the close it sends).</summary>
    public static RunResult RunPipelinesLeaf(ServerCase c)
    {
        var inline = new PipeOptions(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0, useSynchronizationContext: false);
        var input = new Pipe(inline);
        var output = new Pipe(inline);
        var writer = new FrameWriter(output.Writer, null, TimeProvider.System, _ => { });
        var inflater = c.Deflate is { } d ? new MessageInflater(contextTakeover: !d.ServerNoContextTakeover) : null;
        var reader = new FrameReader(input.Reader, writer, c.MaxMessageBytes, 4096, TimeProvider.System, inflater, null);
        using var chunks = c.Chunks().GetEnumerator();
        var messages = new List<(FrameKind, byte[])>();
        var completed = false;
        try
        {
            while (true)
            {
                var pending = reader.ReceiveAsync(CancellationToken.None);
                while (!pending.IsCompleted)
                {
                    if (chunks.MoveNext())
                    {
                        input.Writer.Write(chunks.Current.Span);
                        input.Writer.FlushAsync().GetAwaiter().GetResult();
                    }
                    else if (!completed)
                    {
                        input.Writer.Complete();
                        completed = true;
                    }
                    else
                    {
                        // After a violation the reader gives the peer up to a second to read its close
                        // (DrainQuietlyAsync); with the input ended it finishes at once, though its
                        // continuation may hop to the thread pool. A real hang waits out the bound.
                        break;
                    }
                }

                Frame frame;
                try
                {
                    var task = pending.AsTask();
                    if (!WaitQuietly(task))
                    {
                        return new RunResult(messages, EndKind.Stalled, null, null, SentClose(output.Reader), "the receive did not complete with the whole stream read and ended");
                    }

                    frame = task.GetAwaiter().GetResult();
                }
                catch (TransportException error)
                {
                    var end = error.Kind switch
                    {
                        TransportErrorKind.MessageTooBig => EndKind.TooBig,
                        TransportErrorKind.Connection => EndKind.ConnectionLost,
                        _ => EndKind.Failed,
                    };
                    return new RunResult(messages, end, null, null, SentClose(output.Reader), $"{error.Kind}: {error.Message}") { FinalBlocks = inflater?.FinalBlocks ?? 0 };
                }

                switch (frame.Kind)
                {
                    case FrameKind.Text or FrameKind.Binary:
                        messages.Add((frame.Kind, frame.Payload.ToArray()));
                        break;
                    case FrameKind.Close:
                        return new RunResult(messages, EndKind.PeerClose, frame.CloseCode, frame.CloseReason, SentClose(output.Reader), "peer close") { FinalBlocks = inflater?.FinalBlocks ?? 0 };
                }
            }
        }
        finally
        {
            reader.Release();
        }
    }

    /// <summary>The runtime's own client: <see cref="WebSocket.CreateFromStream(Stream, WebSocketCreationOptions)"/> (ManagedWebSocket).</summary>
    public static RunResult RunRuntime(ServerCase c)
    {
        var stream = new ScriptedStream(c.Chunks());
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions
        {
            IsServer = false,
            KeepAliveInterval = TimeSpan.Zero,
            DangerousDeflateOptions = c.Deflate is { } d
                ? new WebSocketDeflateOptions { ServerContextTakeover = !d.ServerNoContextTakeover, ServerMaxWindowBits = Math.Max(9, d.ServerMaxWindowBits) } // the runtime takes 9-15; an 8-bit stream is valid in a 9-bit window
                : null,
        });
        var messages = new List<(FrameKind, byte[])>();
        var buffer = new byte[16 * 1024];
        var message = new ArrayBufferWriter<byte>();
        var zeroProgress = 0;
        while (true)
        {
            ValueWebSocketReceiveResult result;
            try
            {
                var task = socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).AsTask();
                if (!WaitQuietly(task))
                {
                    return new RunResult(messages, EndKind.Stalled, null, null, SentClose(stream.Written), "the receive did not complete");
                }

                result = task.GetAwaiter().GetResult();
            }
            catch (WebSocketException error)
            {
                var sent = SentClose(stream.Written);
                var end = sent is null && error.WebSocketErrorCode == WebSocketError.ConnectionClosedPrematurely ? EndKind.ConnectionLost : EndKind.Failed;
                return new RunResult(messages, end, null, null, sent, $"{error.WebSocketErrorCode}: {error.Message}");
            }

            if (result.MessageType == WebSocketMessageType.Close)
            {
                return new RunResult(messages, EndKind.PeerClose, (int?)socket.CloseStatus, socket.CloseStatusDescription, SentClose(stream.Written), "peer close");
            }

            message.Write(buffer.AsSpan(0, result.Count));
            if (message.WrittenCount > c.MaxMessageBytes)
            {
                return new RunResult(messages, EndKind.TooBig, null, null, null, "the harness counted past the limit");
            }

            // Each empty frame costs at least 2 bytes of the stream: more empty results than that is a hang.
            zeroProgress = result.Count == 0 && !result.EndOfMessage ? zeroProgress + 1 : 0;
            if (zeroProgress > MaxZeroProgressReceives + (c.Stream.Length / 2))
            {
                return new RunResult(messages, EndKind.Stalled, null, null, SentClose(stream.Written), $"{MaxZeroProgressReceives} receives in a row returned nothing and no end of message");
            }

            if (result.EndOfMessage)
            {
                messages.Add((result.MessageType == WebSocketMessageType.Text ? FrameKind.Text : FrameKind.Binary, message.WrittenSpan.ToArray()));
                message.ResetWrittenCount();
            }
        }
    }

    // True when the task completed (in any way) within the bound; its outcome is read with GetResult.
    private static bool WaitQuietly(Task task)
    {
        try
        {
            return task.Wait(StallBound);
        }
        catch (AggregateException)
        {
            return true;
        }
    }

    // The first close frame among the client's (masked) frames, or null.
    private static int? SentClose(PipeReader output)
    {
        if (!output.TryRead(out var result))
        {
            return null;
        }

        var bytes = result.Buffer.ToArray();
        output.AdvanceTo(result.Buffer.End);
        return SentClose(bytes);
    }

    private static int? SentClose(byte[] bytes)
    {
        var offset = 0;
        while (offset + 2 <= bytes.Length)
        {
            var opcode = bytes[offset] & 0xF;
            long length = bytes[offset + 1] & 0x7F;
            var masked = (bytes[offset + 1] & 0x80) != 0;
            offset += 2;
            if (length == 126)
            {
                length = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset));
                offset += 2;
            }
            else if (length == 127)
            {
                length = BinaryPrimitives.ReadInt64BigEndian(bytes.AsSpan(offset));
                offset += 8;
            }

            var key = masked ? bytes.AsSpan(offset, 4).ToArray() : [0, 0, 0, 0];
            offset += masked ? 4 : 0;
            if (opcode == 8)
            {
                if (length < 2)
                {
                    return CloseCodes.NoStatus;
                }

                return ((bytes[offset] ^ key[0]) << 8) | (bytes[offset + 1] ^ key[1]);
            }

            offset += (int)length;
        }

        return null;
    }

    /// <summary>A stream that returns the case's reads in order (a read smaller than the caller's buffer stays a short read), then end of stream; it keeps what the client writes.</summary>
    private sealed class ScriptedStream(IEnumerable<ReadOnlyMemory<byte>> reads) : Stream
    {
        private readonly IEnumerator<ReadOnlyMemory<byte>> _reads = reads.GetEnumerator();
        private readonly MemoryStream _written = new();
        private ReadOnlyMemory<byte> _current;

        public byte[] Written => _written.ToArray();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_current.IsEmpty)
            {
                if (!_reads.MoveNext())
                {
                    return 0;
                }

                _current = _reads.Current;
            }

            var n = Math.Min(buffer.Length, _current.Length);
            _current.Span[..n].CopyTo(buffer);
            _current = _current[n..];
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override void Write(byte[] buffer, int offset, int count) => _written.Write(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => _written.Write(buffer);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _written.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            _written.Write(buffer, offset, count);
            return Task.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
