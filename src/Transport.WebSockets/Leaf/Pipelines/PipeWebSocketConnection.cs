using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;

namespace Transport.WebSockets.Pipelines;

/// <summary>One upgraded connection of the Pipelines leaf: its reader, writer, handshake facts and keep-alive.</summary>
/// <remarks>
/// Keep-alive (PipeLeaf.K1): every KeepAliveInterval a ping carrying a sequence number is sent unless
/// one is still unanswered; when KeepAliveTimeout is set and no pong echoing it arrives within that
/// time, the receive fails with Timeout. Timers come from the options' TimeProvider.
/// </remarks>
internal sealed class PipeWebSocketConnection : ILeafConnection
{
    private readonly Stream _stream;
    private readonly IDisposable? _response;
    private readonly FrameReader _reader;
    private readonly FrameWriter _writer;
    private readonly TimeProvider _time;
    private readonly TimeSpan? _keepAliveTimeout;
    private readonly ITimer? _pingTimer;
    private readonly ITimer? _pongTimer;
    private long _pingSequence; // the last ping sent (Interlocked)
    private long _answered; // the highest sequence a pong echoed (Interlocked)
    private int _disposed;

    public PipeWebSocketConnection(Stream stream, IDisposable? response, HandshakeResponse handshake, PipeWebSocketConnectorOptions options, DeflateAgreement? deflate)
    {
        _stream = stream;
        _response = response;
        _time = options.TimeProvider;
        Handshake = handshake;
        var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: Math.Max(options.ReceiveBufferBytes, 4096), minimumReadSize: 1024, leaveOpen: true));
        var output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        _writer = new FrameWriter(output, deflate is null ? null : new MessageDeflater(deflate.ClientNoContextTakeover), _time, Abort);
        _reader = new FrameReader(input, _writer, options.MaxMessageBytes, options.ReceiveBufferBytes, _time, deflate is null ? null : new MessageInflater(contextTakeover: !deflate.ServerNoContextTakeover), OnPong, CloseStream, options.Payloads);

        Capabilities = LeafCapabilities.BatchReceive | LeafCapabilities.SurfacesPings | LeafCapabilities.SurfacesPongs;
        if (options.KeepAliveInterval is { } interval && interval > TimeSpan.Zero && interval != Timeout.InfiniteTimeSpan)
        {
            if (options.KeepAliveTimeout is { } timeout && timeout != Timeout.InfiniteTimeSpan)
            {
                _keepAliveTimeout = timeout;
                _pongTimer = _time.CreateTimer(static s => ((PipeWebSocketConnection)s!).OnPongOverdue(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                Capabilities |= LeafCapabilities.KeepAliveProbe;
            }

            _pingTimer = _time.CreateTimer(static s => ((PipeWebSocketConnection)s!).OnPingDue(), this, interval, interval);
        }
    }

    public ILeafSender Sender => _writer;

    public ILeafReceiver Receiver => _reader;

    public string? SubProtocol => Handshake.SubProtocol;

    public HandshakeResponse Handshake { get; }

    public LeafCapabilities Capabilities { get; }

    /// <summary>Aborts the socket (no close handshake) and releases the buffers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _pingTimer?.Dispose();
        _pongTimer?.Dispose();
        _reader.Release();
        _writer.Dispose();
        await _stream.DisposeAsync().ConfigureAwait(false);
        _response?.Dispose();
    }

    private void Abort(string reason)
    {
        _reader.Abort(TransportException.Connection(reason));
        _stream.Dispose();
    }

    // The close handshake is over (or a violation was answered): release the TCP connection now
    // rather than at dispose. Later sends fail with a Connection error.
    private void CloseStream()
    {
        _pingTimer?.Dispose();
        _pongTimer?.Dispose();
        _stream.Dispose();
    }

    private void OnPingDue()
    {
        var sent = Interlocked.Read(ref _pingSequence);
        if (sent != Interlocked.Read(ref _answered) && _keepAliveTimeout is not null)
        {
            return; // PipeLeaf.K1: one probe at a time
        }

        var next = Interlocked.Increment(ref _pingSequence);
        var payload = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(payload, next);
        _pongTimer?.Change(_keepAliveTimeout!.Value, Timeout.InfiniteTimeSpan);
        _ = _writer.PingQuietlyAsync(payload);
    }

    private void OnPong(ReadOnlySequence<byte> payload)
    {
        if (payload.Length != 8)
        {
            return; // not an answer to our keep-alive
        }

        Span<byte> bytes = stackalloc byte[8];
        payload.CopyTo(bytes);
        var echoed = BinaryPrimitives.ReadInt64BigEndian(bytes);
        if (echoed == Interlocked.Read(ref _pingSequence))
        {
            Interlocked.Exchange(ref _answered, echoed);
            _pongTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private void OnPongOverdue()
    {
        if (Interlocked.Read(ref _pingSequence) != Interlocked.Read(ref _answered))
        {
            _pingTimer?.Dispose();
            _reader.Abort(TransportException.Timeout("The keep-alive ping got no pong within KeepAliveTimeout."));
        }
    }
}
