using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Pipelines;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Pipelines;

namespace Transport.Tests.Leaf;

/// <summary>
/// The Pipelines leaf's parser without sockets: server bytes go into one Pipe, the client's frames
/// come out of another. With the input written and completed up front, every receive completes
/// synchronously on the test thread, so per-thread allocation counts are exact.
/// </summary>
internal sealed class PipeLeafHarness
{
    private readonly Pipe _input = new(new PipeOptions(pauseWriterThreshold: 0));
    private readonly Pipe _output;

    public PipeLeafHarness(int maxMessageBytes = 1024 * 1024, bool deflate = false, TimeProvider? time = null, PayloadAllocator? payloads = null, bool serverContextTakeover = true, int receiveBufferBytes = 4096, PipeOptions? output = null)
    {
        var clock = time ?? TimeProvider.System;
        _output = new Pipe(output ?? new PipeOptions(pauseWriterThreshold: 0));
        Inflater = deflate ? new MessageInflater(serverContextTakeover) : null;
        Writer = new FrameWriter(_output.Writer, null, clock, reason => AbortReasons.Add(reason));
        Reader = new FrameReader(_input.Reader, Writer, maxMessageBytes, receiveBufferBytes, clock, Inflater, null, payloads: payloads);
    }

    /// <summary>The reader's inflater (deflate sessions only).</summary>
    public MessageInflater? Inflater { get; }

    /// <summary>Why the writer aborted the connection, in order (PipeLeaf.W3).</summary>
    public List<string> AbortReasons { get; } = [];

    /// <summary>The raw client output (for tests that read it while a write is in flight).</summary>
    public PipeReader Output => _output.Reader;

    public FrameReader Reader { get; }

    public FrameWriter Writer { get; }

    /// <summary>Writes server bytes and (by default) ends the stream.</summary>
    public void Feed(ReadOnlySpan<byte> bytes, bool complete = true)
    {
        _input.Writer.Write(bytes);
        _input.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        if (complete)
        {
            _input.Writer.Complete();
        }
    }

    /// <summary>One receive that must complete synchronously (the input already holds the frame).</summary>
    public Frame ReceiveNow()
    {
        var pending = Reader.ReceiveAsync(CancellationToken.None);
        if (!pending.IsCompleted)
        {
            throw new InvalidOperationException("The receive did not complete synchronously.");
        }

        return pending.GetAwaiter().GetResult();
    }

    /// <summary>Receives until the reader ends: every frame, then the error (if any).</summary>
    public (List<Frame> Frames, TransportException? Error) Drain(int maxFrames = 100_000)
    {
        var frames = new List<Frame>();
        for (var i = 0; i < maxFrames; i++)
        {
            var pending = Reader.ReceiveAsync(CancellationToken.None);
            if (!pending.IsCompleted)
            {
                throw new InvalidOperationException("A receive did not complete synchronously over a completed input: the parser waited for bytes that can never come.");
            }

            try
            {
                var frame = pending.GetAwaiter().GetResult();
                frames.Add(frame);
                if (frame.Kind == FrameKind.Close)
                {
                    return (frames, null);
                }
            }
            catch (TransportException t)
            {
                return (frames, t);
            }
        }

        throw new InvalidOperationException("The reader produced more frames than the input could hold.");
    }

    /// <summary>The client frames written so far (unmasked): (opcode, payload).</summary>
    public List<(int Opcode, byte[] Payload)> Sent()
    {
        var frames = new List<(int, byte[])>();
        if (!_output.Reader.TryRead(out var result))
        {
            return frames;
        }

        var bytes = result.Buffer.ToArray();
        _output.Reader.AdvanceTo(result.Buffer.End);
        var offset = 0;
        while (offset < bytes.Length)
        {
            var opcode = bytes[offset] & 0xF;
            Assert.True((bytes[offset + 1] & 0x80) != 0, "every client frame is masked");
            long length = bytes[offset + 1] & 0x7F;
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

            var mask = bytes.AsSpan(offset, 4).ToArray();
            offset += 4;
            var payload = bytes.AsSpan(offset, (int)length).ToArray();
            for (var i = 0; i < payload.Length; i++)
            {
                payload[i] ^= mask[i & 3];
            }

            offset += (int)length;
            frames.Add((opcode, payload));
        }

        return frames;
    }

    /// <summary>The close code the client sent, or null.</summary>
    public int? SentCloseCode() =>
        Sent().Where(f => f.Opcode == 0x8).Select(f => (int?)BinaryPrimitives.ReadUInt16BigEndian(f.Payload)).FirstOrDefault();

    /// <summary>One server frame (unmasked).</summary>
    public static byte[] ServerFrame(int opcode, bool fin, ReadOnlySpan<byte> payload, int rsv = 0, long? declaredLength = null, bool masked = false)
    {
        var length = declaredLength ?? payload.Length;
        var buffer = new ArrayBufferWriter<byte>();
        var header = buffer.GetSpan(14);
        header[0] = (byte)((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0xF));
        int headerLength;
        if (length < 126)
        {
            header[1] = (byte)length;
            headerLength = 2;
        }
        else if (length <= ushort.MaxValue)
        {
            header[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)length);
            headerLength = 4;
        }
        else
        {
            header[1] = 127;
            BinaryPrimitives.WriteInt64BigEndian(header[2..], length);
            headerLength = 10;
        }

        if (masked)
        {
            header[1] |= 0x80;
            header[headerLength..(headerLength + 4)].Clear();
            headerLength += 4;
        }

        buffer.Advance(headerLength);
        buffer.Write(payload);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A permessage-deflate payload for <paramref name="message"/> (sync-flushed, tail stripped).</summary>
    public static byte[] Deflate(ReadOnlySpan<byte> message)
    {
        using var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            deflate.Write(message);
            deflate.Flush();
            var compressed = output.ToArray();

            // An empty message flushes nothing: RFC 7692 7.2.3.6 allows a single 0x00 for it.
            return compressed.Length < 4 ? [0x00] : compressed[..^4];
        }
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
