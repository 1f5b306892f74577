using System.Net.WebSockets;

namespace Transport.WebSockets;

/// <summary>
/// The production leaf: opens one <see cref="ClientWebSocket"/> per attempt and hands back its
/// send and receive halves. No reconnect, no retries: the stack above owns those.
/// </summary>
/// <remarks>
/// <para>
/// Failures are mapped into the transport's taxonomy: a non-101 handshake answer becomes
/// <see cref="TransportException.HandshakeRejected"/> (401/403: Auth, otherwise Connection, with
/// the status and the response's <c>Retry-After</c>); refused, reset and DNS failures become
/// Connection; a request that cannot be prepared (an invalid header, a throwing ConfigureSocket)
/// or an HTTP handler that cannot be built becomes Configuration. Cancellation of the caller's
/// token is rethrown as <see cref="OperationCanceledException"/>, because only the stack above
/// knows whether it was its connect timeout or a shutdown.
/// </para>
/// <para>
/// Exception messages never contain the URI: the query may carry a token. Platform exceptions
/// are kept as inner exceptions only (<see cref="TransportException.ToString"/> prints their type).
/// </para>
/// <para>
/// Without an <see cref="ClientWebSocketConnectorOptions.HttpMessageInvoker"/>, the handshake goes
/// through a handler of the transport's (the settings ConfigureSocket made, such as a proxy or a
/// certificate callback, are carried onto it) that makes no platform HTTP span: see ADR 0018.
/// </para>
/// <para>
/// ClientWebSocket answers protocol pings itself inside ReceiveAsync and never surfaces ping or
/// pong frames, so this leaf never yields them and ignores ping/pong sends.
/// </para>
/// <para>
/// With <see cref="ClientWebSocketConnectorOptions.DeflateOptions"/> set, ClientWebSocket cannot
/// inflate a message the server ended with a final (BFINAL=1) deflate block, which RFC 7692 section
/// 7.2.3.3 allows: it aborts the socket. The receive then fails with
/// <see cref="TransportErrorKind.Compression"/>, and the reconnecting stack connects again without
/// offering permessage-deflate (<see cref="HandshakeRequest.OfferCompression"/>;
/// docs/adr/0019-deflate-fallback.md). The Pipelines leaf inflates such messages.
/// </para>
/// </remarks>
public sealed class ClientWebSocketConnector : ILeafConnector
{
    private readonly ClientWebSocketConnectorOptions _options;

    /// <summary>Creates the connector.</summary>
    /// <param name="options">The leaf's settings; copied, so later changes do not affect it. Null: defaults.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the parameter name is the property's.</exception>
    public ClientWebSocketConnector(ClientWebSocketConnectorOptions? options = null)
    {
        options ??= new ClientWebSocketConnectorOptions();
        Validate(options);
        _options = new ClientWebSocketConnectorOptions
        {
            HttpMessageInvoker = options.HttpMessageInvoker,
            DeflateOptions = options.DeflateOptions,
            KeepAliveInterval = options.KeepAliveInterval,
            KeepAliveTimeout = options.KeepAliveTimeout,
            MaxMessageBytes = options.MaxMessageBytes,
            ReceiveBufferBytes = options.ReceiveBufferBytes,
            ConfigureSocket = options.ConfigureSocket,
            TimeProvider = options.TimeProvider ?? throw new ArgumentNullException(nameof(ClientWebSocketConnectorOptions.TimeProvider)),
            Payloads = options.Payloads,
        };
    }

    /// <inheritdoc />
    public async ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handshake);
        cancellationToken.ThrowIfCancellationRequested();

        var socket = new ClientWebSocket();
        Uri uri;
        var invoker = _options.HttpMessageInvoker;
        var disposeInvoker = false;
        try
        {
            Configure(socket.Options, handshake);
            uri = handshake.BuildUri();

            // Handshakes.H2: with no invoker of the app's, the transport's own handler (no platform span, H1)
            // carries what the options ask for, rather than the one ClientWebSocket would build.
            invoker ??= HandshakeHandlers.ForClientWebSocket(socket.Options, out disposeInvoker);
        }
        catch (Exception ex)
        {
            // Options the builder could not check (a header name or value, a subprotocol, the
            // ConfigureSocket callback): retrying cannot fix them.
            socket.Dispose();
            throw WebSocketFailures.ConfigurationFailure("The handshake could not be prepared", ex);
        }

        try
        {
            await socket.ConnectAsync(uri, invoker, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // CollectHttpResponseDetails (set in Configure) keeps the rejected response's status and headers.
            var status = (int)socket.HttpStatusCode;
            var headers = socket.HttpResponseHeaders;
            socket.Dispose();
            throw WebSocketFailures.MapConnect(ex, status, headers, _options.TimeProvider.GetUtcNow(), cancellationToken);
        }
        finally
        {
            if (disposeInvoker)
            {
                // A per-connect handler (H2); the upgraded stream does not depend on it.
                invoker!.Dispose();
            }
        }

        var keepAliveTimeoutEnabled = _options.KeepAliveTimeout is { } t && t != Timeout.InfiniteTimeSpan;
        return new ClientWebSocketConnection(socket, _options.MaxMessageBytes, _options.ReceiveBufferBytes, keepAliveTimeoutEnabled, _options.TimeProvider, _options.Payloads);
    }

    private static void Validate(ClientWebSocketConnectorOptions options)
    {
        if (options.MaxMessageBytes < 1 || options.MaxMessageBytes >= Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(ClientWebSocketConnectorOptions.MaxMessageBytes), options.MaxMessageBytes, $"Must be between 1 and {Array.MaxLength - 1}.");
        }

        if (options.ReceiveBufferBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ClientWebSocketConnectorOptions.ReceiveBufferBytes), options.ReceiveBufferBytes, "Must be >= 1.");
        }

        if (options.KeepAliveInterval is { } interval && interval < TimeSpan.Zero && interval != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(ClientWebSocketConnectorOptions.KeepAliveInterval), interval, "Must not be negative (use Timeout.InfiniteTimeSpan or zero to turn it off).");
        }

        if (options.KeepAliveTimeout is { } timeout && timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(ClientWebSocketConnectorOptions.KeepAliveTimeout), timeout, "Must be positive (or Timeout.InfiniteTimeSpan).");
        }
    }

    private void Configure(ClientWebSocketOptions socketOptions, HandshakeRequest handshake)
    {
        // Needed so a rejected handshake's status is known after ConnectAsync throws.
        socketOptions.CollectHttpResponseDetails = true;

        foreach (var (name, value) in handshake.Headers)
        {
            socketOptions.SetRequestHeader(name, value);
        }

        if (handshake.Cookies.Count > 0)
        {
            // A Cookie header rather than Options.Cookies: ClientWebSocket refuses a CookieContainer
            // together with an HttpMessageInvoker, and a header works for both.
            socketOptions.SetRequestHeader("Cookie", string.Join("; ", handshake.Cookies.Select(c => $"{c.Key}={c.Value}")));
        }

        foreach (var subProtocol in handshake.SubProtocols)
        {
            socketOptions.AddSubProtocol(subProtocol);
        }

        if (_options.KeepAliveInterval is { } interval)
        {
            socketOptions.KeepAliveInterval = interval;
        }

        if (_options.KeepAliveTimeout is { } timeout)
        {
            socketOptions.KeepAliveTimeout = timeout;
        }

        // The stack clears OfferCompression after a Compression failure (docs/adr/0019): no offer then.
        if (_options.DeflateOptions is { } deflate && handshake.OfferCompression)
        {
            socketOptions.DangerousDeflateOptions = deflate;
        }

        _options.ConfigureSocket?.Invoke(socketOptions);
    }
}
