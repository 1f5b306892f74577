using System.Buffers.Binary;
using Microsoft.AspNetCore.Http;

namespace Transport.Benchmarks.Server;

/// <summary>
/// One upgraded connection: the raw stream plus a minimal reader of the client's (masked) frames.
/// The reader counts data messages, answers a close with a close, and never allocates per frame.
/// </summary>
internal sealed class ServerConnection
{
    private readonly HttpContext _context;
    private long _dataMessages;
    private long _countTarget = long.MaxValue;
    private TaskCompletionSource? _countReached;
    private readonly TaskCompletionSource _firstMessage = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ServerConnection(HttpContext context, Stream stream, int index)
    {
        _context = context;
        Stream = stream;
        Index = index;
    }

    public Stream Stream { get; }

    /// <summary>1-based connection number on this server.</summary>
    public int Index { get; }

    public bool Aborted { get; private set; }

    public bool ClientGone { get; private set; }

    /// <summary>Data messages the client has sent on this connection.</summary>
    public long DataMessages => Interlocked.Read(ref _dataMessages);

    /// <summary>
    /// When set, called for each complete data message with its first bytes (up to 32) unmasked, at the moment
    /// the drain parsed it (the send-under-load scenario reads the order's stamp there).
    /// </summary>
    public Action<ReadOnlySpan<byte>>? OnData { get; set; }

    /// <summary>Completes when the client's first data message (the "go" signal) arrived.</summary>
    public Task FirstMessage => _firstMessage.Task;

    /// <summary>Completes once at least <paramref name="target"/> data messages arrived. One waiter at a time.</summary>
    public Task WaitForCountAsync(long target)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _countReached, tcs);
        Interlocked.Exchange(ref _countTarget, target);
        if (DataMessages >= target)
        {
            tcs.TrySetResult();
        }

        return tcs.Task;
    }

    public void Abort()
    {
        Aborted = true;
        _context.Abort();
    }

    /// <summary>
    /// Reads the client's frames until it closes (answering with a close) or goes away.
    /// <paramref name="beforeCloseReply"/> runs before the close reply is written (so a writer still
    /// flooding can finish first: two writers must never interleave on the stream).
    /// </summary>
    public async Task DrainUntilCloseAsync(Func<Task>? beforeCloseReply = null)
    {
        var buffer = new byte[64 * 1024]; // per drain, not per connection: an idle server connection holds none
        int filled = 0;
        byte[]? unmasked = null; // OnData's first bytes, unmasked
        while (true)
        {
            int read;
            try
            {
                read = await Stream.ReadAsync(buffer.AsMemory(filled)).ConfigureAwait(false);
            }
            catch (Exception) when (!Aborted)
            {
                ClientGone = true;
                throw;
            }

            if (read == 0)
            {
                ClientGone = true;
                _firstMessage.TrySetException(new EndOfStreamException("The client left before its first message."));
                return;
            }

            filled += read;
            int offset = 0;
            while (TryParse(buffer.AsSpan(offset, filled - offset), out int consumed, out int opcode, out bool fin, out int header))
            {
                if (OnData is { } onData && fin && opcode is 0x1 or 0x2)
                {
                    // The mask is the header's last 4 bytes (client frames are always masked).
                    var first = unmasked ??= new byte[32];
                    var frame = buffer.AsSpan(offset, consumed);
                    int n = Math.Min(32, consumed - header);
                    for (int i = 0; i < n; i++)
                    {
                        first[i] = (byte)(frame[header + i] ^ frame[header - 4 + (i & 3)]);
                    }

                    onData(first.AsSpan(0, n));
                }

                offset += consumed;
                if (opcode == 0x8)
                {
                    if (beforeCloseReply is not null)
                    {
                        await beforeCloseReply().ConfigureAwait(false);
                    }

                    await Stream.WriteAsync(new byte[] { 0x88, 0x02, 0x03, 0xE8 }).ConfigureAwait(false);
                    await Stream.FlushAsync().ConfigureAwait(false);
                    return;
                }

                if (fin && opcode is 0x0 or 0x1 or 0x2)
                {
                    var n = Interlocked.Increment(ref _dataMessages);
                    if (n == 1)
                    {
                        _firstMessage.TrySetResult();
                    }

                    if (n >= Interlocked.Read(ref _countTarget))
                    {
                        Volatile.Read(ref _countReached)?.TrySetResult();
                    }
                }
            }

            // Keep the partial frame at the front.
            if (offset > 0)
            {
                buffer.AsSpan(offset, filled - offset).CopyTo(buffer);
                filled -= offset;
            }

            if (filled == buffer.Length)
            {
                // A client frame larger than the buffer: skip its payload by growing (rare; sends are small here).
                Array.Resize(ref buffer, buffer.Length * 2);
            }
        }
    }

    // Parses one masked client frame header + payload; the payload itself is skipped, not unmasked.
    private static bool TryParse(ReadOnlySpan<byte> data, out int consumed, out int opcode, out bool fin, out int headerBytes)
    {
        consumed = 0;
        headerBytes = 0;
        opcode = 0;
        fin = false;
        if (data.Length < 2)
        {
            return false;
        }

        fin = (data[0] & 0x80) != 0;
        opcode = data[0] & 0x0F;
        bool masked = (data[1] & 0x80) != 0;
        long length = data[1] & 0x7F;
        int header = 2;
        if (length == 126)
        {
            if (data.Length < 4)
            {
                return false;
            }

            length = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
            header = 4;
        }
        else if (length == 127)
        {
            if (data.Length < 10)
            {
                return false;
            }

            length = BinaryPrimitives.ReadInt64BigEndian(data[2..]);
            header = 10;
        }

        if (masked)
        {
            header += 4;
        }

        long total = header + length;
        if (data.Length < total)
        {
            return false;
        }

        consumed = (int)total;
        headerBytes = header;
        return true;
    }
}
