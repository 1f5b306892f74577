using System.Buffers.Binary;
using System.Text;
using Transport.Testing;

namespace Transport.IntegrationTests.Conformance;

/// <summary>The server side of one catalogue case: writes arbitrary frames, then reads what the client sends.</summary>
internal sealed class CaseServer(RawWebSocketWriter raw, CancellationToken aborted)
{
    private readonly List<RawFrame> _frames = [];
    private int? _clientClose;
    private bool _clientClosed;
    private bool _closeSent;
    private bool _closedEarly;
    private bool _connectionEnded;

    /// <summary>Set by a script that closes (or aborts) by itself: no normal close follows it.</summary>
    public bool Ended { get; set; }

    public CancellationToken Aborted => aborted;

    public Task Frame(int opcode, bool fin, byte[] payload, int rsv = 0, long? declaredLength = null) => raw.WriteFrameAsync(opcode, fin, payload, declaredLength, rsv);

    public Task Text(string text, bool fin = true) => Frame(RawWebSocketWriter.OpText, fin, Encoding.UTF8.GetBytes(text));

    public Task Text(byte[] utf8, bool fin = true, int rsv = 0) => Frame(RawWebSocketWriter.OpText, fin, utf8, rsv);

    public Task Binary(byte[] payload, bool fin = true, int rsv = 0) => Frame(RawWebSocketWriter.OpBinary, fin, payload, rsv);

    public Task Continuation(byte[] payload, bool fin, int rsv = 0) => Frame(RawWebSocketWriter.OpContinuation, fin, payload, rsv);

    public Task Ping(byte[] payload, int rsv = 0) => Frame(RawWebSocketWriter.OpPing, true, payload, rsv);

    public Task Pong(byte[] payload) => Frame(RawWebSocketWriter.OpPong, true, payload);

    public async Task Close(int code, string? reason = null)
    {
        _closeSent = true;
        await raw.WriteCloseAsync(code, reason);
    }

    public async Task ClosePayload(byte[] payload, int rsv = 0)
    {
        _closeSent = true;
        await Frame(RawWebSocketWriter.OpClose, true, payload, rsv);
    }

    /// <summary>Writes bytes as they are, optionally one byte per flush (a slow server).</summary>
    public async Task Raw(byte[] bytes, bool oneByteAtATime = false)
    {
        if (!oneByteAtATime)
        {
            await raw.WriteRawAsync(bytes);
            return;
        }

        foreach (var b in bytes)
        {
            await raw.WriteRawAsync([b]);
        }
    }

    /// <summary>The bytes of one server frame (unmasked), for scripts that write them their own way.</summary>
    public static byte[] FrameBytes(int opcode, bool fin, byte[] payload, int rsv = 0)
    {
        var header = new List<byte> { (byte)((fin ? 0x80 : 0) | (rsv << 4) | opcode) };
        if (payload.Length < 126)
        {
            header.Add((byte)payload.Length);
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            header.Add(126);
            header.Add((byte)(payload.Length >> 8));
            header.Add((byte)payload.Length);
        }
        else
        {
            header.Add(127);
            var length = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(length, payload.Length);
            header.AddRange(length);
        }

        return [.. header, .. payload];
    }

    /// <summary>
    /// Waits up to <paramref name="bound"/> for the client's close (fail-fast cases: the client must close
    /// before the server sends the rest of the message). True when it closed.
    /// </summary>
    public async Task<bool> ClientClosesWithin(TimeSpan bound)
    {
        await ObserveAsync(bound);
        _closedEarly = _clientClosed || _connectionEnded; // a client that failed and dropped the connection also failed early
        return _closedEarly;
    }

    /// <summary>
    /// Reads client frames until the client's close (answered, if the server has not closed yet) or the
    /// end of the connection, within <paramref name="bound"/>. Pongs and data frames are kept.
    /// </summary>
    public async Task ObserveAsync(TimeSpan bound)
    {
        if (_clientClosed)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        timeout.CancelAfter(bound);
        try
        {
            RawFrame? frame;
            while ((frame = await raw.ReadFrameAsync(timeout.Token)) is not null)
            {
                if (frame.Opcode == RawWebSocketWriter.OpClose)
                {
                    _clientClosed = true;
                    _clientClose = frame.CloseCode;
                    if (!_closeSent)
                    {
                        await Close(frame.CloseCode ?? 1000); // complete the handshake the client started
                    }

                    return;
                }

                _frames.Add(frame);
            }

            _connectionEnded = true;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or EndOfStreamException or InvalidOperationException or OverflowException)
        {
            // The client dropped the connection, or the bound ran out: what was seen is the observation.
            _connectionEnded = !timeout.IsCancellationRequested;
        }
    }

    /// <summary>Sends the normal close (unless the script ended the connection itself).</summary>
    public async Task FinishAsync()
    {
        if (!Ended && !_closeSent && !_clientClosed)
        {
            try
            {
                await Close(1000);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
            {
                // The client already went away.
            }
        }
    }

    public ServerSide Observation() => new(_frames.ToList(), _clientClose, _clientClosed) { ClosedEarly = _closedEarly };
}
