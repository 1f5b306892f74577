using System.Net.WebSockets;

namespace Transport.WebSockets;

/// <summary>
/// Settings of the <see cref="ClientWebSocketConnector"/> leaf: how one raw socket is opened and read.
/// Plain data; <see cref="ClientWebSocketConnector"/> validates it when constructed.
/// </summary>
public sealed class ClientWebSocketConnectorOptions
{
    /// <summary>The default <see cref="MaxMessageBytes"/>: 16 MiB (venues send multi-MB snapshots).</summary>
    public const int DefaultMaxMessageBytes = 16 * 1024 * 1024;

    /// <summary>The default <see cref="ReceiveBufferBytes"/>: 16 KiB.</summary>
    public const int DefaultReceiveBufferBytes = 16 * 1024;

    /// <summary>
    /// Connect through this invoker (for example a handler from <c>IHttpClientFactory</c>); proxy,
    /// TLS and connection settings then come from it. Null: a handler of the transport's, carrying what
    /// <see cref="ConfigureSocket"/> set (proxy, credentials, certificate callback, client certificates,
    /// cookies), with no platform HTTP span (ADR 0018). The connector does not dispose it. An invoker of
    /// the app's records what its handler records: give its SocketsHttpHandler
    /// <c>ActivityHeadersPropagator = null</c> to keep the handshake URL out of the platform's spans.
    /// </summary>
    public HttpMessageInvoker? HttpMessageInvoker { get; set; }

    /// <summary>Offer permessage-deflate with these parameters. Null: compression off.</summary>
    public WebSocketDeflateOptions? DeflateOptions { get; set; }

    /// <summary>
    /// The protocol keep-alive interval (ClientWebSocketOptions.KeepAliveInterval).
    /// Null: the platform default. <see cref="TimeSpan.Zero"/> or <see cref="Timeout.InfiniteTimeSpan"/>: off.
    /// </summary>
    public TimeSpan? KeepAliveInterval { get; set; }

    /// <summary>
    /// How long to wait for the pong of a keep-alive ping before the socket fails with a
    /// <see cref="TransportErrorKind.Timeout"/> (ClientWebSocketOptions.KeepAliveTimeout).
    /// Null: no pong check (keep-alive pings are then unsolicited pongs).
    /// </summary>
    public TimeSpan? KeepAliveTimeout { get; set; }

    /// <summary>
    /// The largest message accepted, in bytes. Beyond it the socket is closed with 1009 and the
    /// receive fails with <see cref="TransportErrorKind.MessageTooBig"/>. Default 16 MiB.
    /// </summary>
    public int MaxMessageBytes { get; set; } = DefaultMaxMessageBytes;

    /// <summary>The size of the reusable receive buffer, in bytes. Default 16 KiB.</summary>
    public int ReceiveBufferBytes { get; set; } = DefaultReceiveBufferBytes;

    /// <summary>The clock that stamps <see cref="Frame.ReceivedAt"/> and reads a <c>Retry-After</c> HTTP date. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Escape hatch: called last on every new socket's options, after everything above was
    /// applied (certificates, HTTP version, extra settings the connector does not model).
    /// </summary>
    public Action<ClientWebSocketOptions>? ConfigureSocket { get; set; }

    /// <summary>
    /// Where received payloads are copied: owned arrays (default) or pooled leases (lease mode).
    /// Set by the transport builder from <see cref="ReceiveOptions.LeasedPayloads"/>.
    /// </summary>
    internal Buffering.PayloadAllocator Payloads { get; set; } = Buffering.PayloadAllocator.Owned;
}
