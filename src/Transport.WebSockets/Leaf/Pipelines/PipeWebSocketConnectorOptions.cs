using System.Net.WebSockets;

namespace Transport.WebSockets;

/// <summary>
/// Settings of the <see cref="PipeWebSocketConnector"/> leaf (RFC 6455 over System.IO.Pipelines).
/// Plain data; the connector validates it when constructed and names the property at fault.
/// </summary>
public sealed class PipeWebSocketConnectorOptions
{
    /// <summary>
    /// Send the upgrade through this invoker (for example a handler from <c>IHttpClientFactory</c>);
    /// proxy, TLS and connection settings then come from it. It must return the connection's stream
    /// as the content of a 101 response, as SocketsHttpHandler does. Null: a shared SocketsHttpHandler
    /// (system proxy, no cookie container, no platform HTTP span: ADR 0018). The connector does not
    /// dispose it. An invoker of the app's records what its handler records: give its SocketsHttpHandler
    /// <c>ActivityHeadersPropagator = null</c> to keep the handshake URL out of the platform's spans.
    /// </summary>
    public HttpMessageInvoker? HttpMessageInvoker { get; set; }

    /// <summary>
    /// Offer permessage-deflate (RFC 7692) with these parameters. Null: compression off.
    /// <see cref="WebSocketDeflateOptions.ClientMaxWindowBits"/> must stay 15: System.IO.Compression
    /// compresses with a 15-bit window and cannot honour a smaller one.
    /// </summary>
    public WebSocketDeflateOptions? DeflateOptions { get; set; }

    /// <summary>
    /// Send a ping this often. Null, <see cref="TimeSpan.Zero"/> or <see cref="Timeout.InfiniteTimeSpan"/>: no keep-alive pings.
    /// </summary>
    public TimeSpan? KeepAliveInterval { get; set; }

    /// <summary>
    /// Fail the receive with <see cref="TransportErrorKind.Timeout"/> when a keep-alive ping gets no
    /// pong within this time. Null or <see cref="Timeout.InfiniteTimeSpan"/>: pongs are not awaited.
    /// </summary>
    public TimeSpan? KeepAliveTimeout { get; set; }

    /// <summary>
    /// The largest message accepted, in bytes (after decompression). Beyond it the socket is closed
    /// with 1009 and the receive fails with <see cref="TransportErrorKind.MessageTooBig"/>; the
    /// message is never buffered past the limit. Default 16 MiB.
    /// </summary>
    public int MaxMessageBytes { get; set; } = ClientWebSocketConnectorOptions.DefaultMaxMessageBytes;

    /// <summary>
    /// The default <see cref="ReceiveBufferBytes"/>: 64 KiB. Measured (docs/benchmarks.md, round 4): a
    /// 64 KiB read carries four times the 1 KiB messages of a 16 KiB one, so the hand-off to the
    /// consumer happens a quarter as often and the stack spent about 15% less CPU per 1 KiB message
    /// (no change at 100 B). The buffer is rented from the pool only once data has arrived (a zero-byte
    /// read waits first) and returned once its frames are parsed, so a connection waiting for data holds
    /// none (docs/adr/0021-cost-at-scale.md).
    /// </summary>
    public const int DefaultReceiveBufferBytes = 64 * 1024;

    /// <summary>
    /// The socket read size (the most bytes one read parses into a batch of frames) and the reassembly
    /// buffer's starting size, in bytes. Default <see cref="DefaultReceiveBufferBytes"/> (64 KiB).
    /// </summary>
    public int ReceiveBufferBytes { get; set; } = DefaultReceiveBufferBytes;

    /// <summary>The clock that stamps <see cref="Frame.ReceivedAt"/>, drives keep-alive and reads a <c>Retry-After</c> HTTP date. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Escape hatch: called last on every upgrade request, after the handshake's headers were applied
    /// (for example to set <see cref="HttpRequestMessage.Options"/> read by a delegating handler).
    /// </summary>
    public Action<HttpRequestMessage>? ConfigureRequest { get; set; }

    /// <summary>
    /// Where received payloads are copied: owned arrays (default) or pooled leases (lease mode).
    /// Set by the transport builder from <see cref="ReceiveOptions.LeasedPayloads"/>.
    /// </summary>
    internal Buffering.PayloadAllocator Payloads { get; set; } = Buffering.PayloadAllocator.Owned;

    /// <summary>Where the socket reader rents its read buffers. Null: <see cref="System.Buffers.MemoryPool{T}.Shared"/> (tests count rentals with their own).</summary>
    internal System.Buffers.MemoryPool<byte>? ReceivePool { get; set; }

    internal PipeWebSocketConnectorOptions Copy() => new()
    {
        Payloads = Payloads,
        ReceivePool = ReceivePool,
        HttpMessageInvoker = HttpMessageInvoker,
        DeflateOptions = DeflateOptions is { } d
            ? new WebSocketDeflateOptions
            {
                ClientContextTakeover = d.ClientContextTakeover,
                ClientMaxWindowBits = d.ClientMaxWindowBits,
                ServerContextTakeover = d.ServerContextTakeover,
                ServerMaxWindowBits = d.ServerMaxWindowBits,
            }
            : null,
        KeepAliveInterval = KeepAliveInterval,
        KeepAliveTimeout = KeepAliveTimeout,
        MaxMessageBytes = MaxMessageBytes,
        ReceiveBufferBytes = ReceiveBufferBytes,
        TimeProvider = TimeProvider,
        ConfigureRequest = ConfigureRequest,
    };
}
