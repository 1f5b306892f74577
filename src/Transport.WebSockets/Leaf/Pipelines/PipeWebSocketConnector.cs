using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Text;
using Transport.WebSockets.Pipelines;

namespace Transport.WebSockets;

/// <summary>
/// The Pipelines leaf: an RFC 6455 client (with RFC 7692 permessage-deflate) over the stream of an
/// HTTP/1.1 upgrade sent through an <see cref="System.Net.Http.HttpMessageInvoker"/>, so proxies,
/// TLS, <c>IHttpClientFactory</c> handlers and handshake headers work as for any HTTP request.
/// </summary>
/// <remarks>
/// <para>
/// Compared with <see cref="ClientWebSocketConnector"/>, it parses every whole frame of a socket
/// read at once (<see cref="ILeafReceiver.TryReceive"/> hands them to the stack as a batch), and it
/// shows what ClientWebSocket hides: pings and pongs (<see cref="LeafCapabilities.SurfacesPings"/>,
/// <see cref="LeafCapabilities.SurfacesPongs"/>: the stack answers pings through its pong lane) and
/// the handshake response's status and headers (<see cref="ILeafConnection.Handshake"/>).
/// </para>
/// <para>
/// Failures map into the same taxonomy as the ClientWebSocket leaf: a non-101 answer is
/// <see cref="TransportException.HandshakeRejected"/> with the status (and the <c>Retry-After</c> it
/// asked for, parsed by <see cref="RetryAfterHeader"/>); network failures and a
/// malformed upgrade answer are Connection; the caller's cancellation is rethrown as
/// <see cref="OperationCanceledException"/>. Messages never contain the URI or header values.
/// </para>
/// </remarks>
public sealed class PipeWebSocketConnector : ILeafConnector
{
    private const string WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    private readonly PipeWebSocketConnectorOptions _options;

    /// <summary>Creates the connector.</summary>
    /// <param name="options">The leaf's settings; copied, so later changes do not affect it. Null: defaults.</param>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the parameter name is the property's.</exception>
    public PipeWebSocketConnector(PipeWebSocketConnectorOptions? options = null)
    {
        _options = (options ?? new PipeWebSocketConnectorOptions()).Copy();
        Validate(_options);
    }

    /// <inheritdoc />
    public async ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handshake);
        cancellationToken.ThrowIfCancellationRequested();

        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
        using var request = BuildRequest(handshake, key);
        HttpResponseMessage response;
        try
        {
            // Handshakes.H1: the shared handler makes no platform HTTP span (a listen key in the path, headers).
            var invoker = _options.HttpMessageInvoker ?? HandshakeHandlers.Shared;

            // HttpClient would buffer the (endless) upgraded stream as content: ask for headers only.
            response = invoker is HttpClient client
                ? await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false)
                : await invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw MapConnectFailure(ex, cancellationToken);
        }

        try
        {
            if (response.StatusCode != HttpStatusCode.SwitchingProtocols)
            {
                // As the ClientWebSocket leaf does: 401/403 are Auth, the rest Connection, and a
                // Retry-After (429, 503) rides on the error for the reconnect policy (Policy.P4).
                var retryAfter = response.Headers.TryGetValues("Retry-After", out var values)
                    ? RetryAfterHeader.Parse(values, _options.TimeProvider.GetUtcNow())
                    : null;
                throw TransportException.HandshakeRejected((int)response.StatusCode, retryAfter: retryAfter);
            }

            var facts = Validate(response, handshake, key, out var deflate);
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            if (!stream.CanRead || !stream.CanWrite)
            {
                throw TransportException.Connection("The upgrade response carried no two-way stream (the HttpMessageInvoker must be backed by SocketsHttpHandler over HTTP/1.1).");
            }

            return new PipeWebSocketConnection(stream, response, facts, _options, deflate);
        }
        catch (Exception ex)
        {
            response.Dispose();
            throw ex is TransportException ? ex : MapConnectFailure(ex, cancellationToken);
        }
    }

    private static void Validate(PipeWebSocketConnectorOptions options)
    {
        if (options.MaxMessageBytes < 1 || options.MaxMessageBytes >= Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(PipeWebSocketConnectorOptions.MaxMessageBytes), options.MaxMessageBytes, $"Must be between 1 and {Array.MaxLength - 1}.");
        }

        if (options.ReceiveBufferBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(PipeWebSocketConnectorOptions.ReceiveBufferBytes), options.ReceiveBufferBytes, "Must be >= 1.");
        }

        if (options.KeepAliveInterval is { } interval && interval < TimeSpan.Zero && interval != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(PipeWebSocketConnectorOptions.KeepAliveInterval), interval, "Must not be negative (use Timeout.InfiniteTimeSpan or zero to turn it off).");
        }

        if (options.KeepAliveTimeout is { } timeout && timeout <= TimeSpan.Zero && timeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(PipeWebSocketConnectorOptions.KeepAliveTimeout), timeout, "Must be positive (or Timeout.InfiniteTimeSpan).");
        }

        if (options.DeflateOptions is { ClientMaxWindowBits: not 15 } deflate)
        {
            throw new ArgumentOutOfRangeException("DeflateOptions.ClientMaxWindowBits", deflate.ClientMaxWindowBits, "This leaf compresses with System.IO.Compression's 15-bit window; leave ClientMaxWindowBits at 15.");
        }

        ArgumentNullException.ThrowIfNull(options.TimeProvider, nameof(PipeWebSocketConnectorOptions.TimeProvider));
    }

    private static Exception MapConnectFailure(Exception ex, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            // Rethrown as cancellation: the stack decides whether that was its timeout or a shutdown.
            return ex as OperationCanceledException ?? new OperationCanceledException("The connect attempt was cancelled.", ex, cancellationToken);
        }

        return ex as TransportException ?? WebSocketFailures.MapProxy(ex) ?? WebSocketFailures.MapTls(ex) ?? TransportException.Connection($"The WebSocket connect failed ({WebSocketFailures.Describe(ex)}).", ex);
    }

    private static Uri HttpUri(Uri uri)
    {
        var builder = new UriBuilder(uri);
        builder.Scheme = uri.Scheme.ToLowerInvariant() switch
        {
            // ws/wss stay: SocketsHttpHandler takes them as ClientWebSocket sends them, and a proxied
            // ws:// then goes through a CONNECT tunnel (as http:// it would go to the proxy in
            // absolute form, which proxies do not upgrade).
            "ws" or "wss" or "http" or "https" => uri.Scheme,
            _ => throw TransportException.Connection($"The WebSocket URI scheme '{uri.Scheme}' is not ws or wss."),
        };
        if (uri.IsDefaultPort)
        {
            builder.Port = -1;
        }

        return builder.Uri;
    }

    private HandshakeResponse Validate(HttpResponseMessage response, HandshakeRequest handshake, string key, out DeflateAgreement? deflate)
    {
        var headers = new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers)
        {
            headers[name] = values.ToArray();
        }

        if (!HasToken(response.Headers.Upgrade.Select(p => p.Name), "websocket") || !HasToken(response.Headers.Connection, "upgrade"))
        {
            throw TransportException.Connection("The server's upgrade response lacked 'Upgrade: websocket' or 'Connection: Upgrade'.", httpStatus: 101);
        }

        var expectedAccept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + WebSocketGuid)));
        if (!response.Headers.TryGetValues("Sec-WebSocket-Accept", out var accept) || accept.Count() != 1 || accept.First().Trim() != expectedAccept)
        {
            throw TransportException.Connection("The server's Sec-WebSocket-Accept did not match the key sent.", httpStatus: 101);
        }

        string? subProtocol = null;
        if (response.Headers.TryGetValues("Sec-WebSocket-Protocol", out var protocols) && protocols.FirstOrDefault() is { Length: > 0 } selected)
        {
            subProtocol = handshake.SubProtocols.FirstOrDefault(p => string.Equals(p, selected.Trim(), StringComparison.Ordinal))
                ?? throw TransportException.Connection("The server selected a subprotocol that was not requested.", httpStatus: 101);
        }

        var extensions = response.Headers.TryGetValues("Sec-WebSocket-Extensions", out var ext) ? ext.ToArray() : [];
        // What was offered: nothing when the stack switched compression off for this connection (docs/adr/0019).
        var offered = handshake.OfferCompression ? _options.DeflateOptions : null;
        if (!DeflateAgreement.TryParse(extensions, offered, out deflate, out var error))
        {
            throw TransportException.Connection($"The server's extension answer was not acceptable: {error}.", httpStatus: 101);
        }

        return new HandshakeResponse(101, subProtocol, extensions, headers);

        static bool HasToken(IEnumerable<string> values, string token) =>
            values.SelectMany(v => v.Split(',')).Any(v => string.Equals(v.Trim(), token, StringComparison.OrdinalIgnoreCase));
    }

    private HttpRequestMessage BuildRequest(HandshakeRequest handshake, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, HttpUri(handshake.BuildUri()))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

        foreach (var (name, value) in handshake.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (handshake.Cookies.Count > 0)
        {
            request.Headers.TryAddWithoutValidation("Cookie", string.Join("; ", handshake.Cookies.Select(c => $"{c.Key}={c.Value}")));
        }

        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", key);
        if (handshake.SubProtocols.Count > 0)
        {
            request.Headers.TryAddWithoutValidation("Sec-WebSocket-Protocol", string.Join(", ", handshake.SubProtocols));
        }

        if (_options.DeflateOptions is { } deflate && handshake.OfferCompression)
        {
            request.Headers.TryAddWithoutValidation("Sec-WebSocket-Extensions", DeflateAgreement.Offer(deflate));
        }

        _options.ConfigureRequest?.Invoke(request);
        return request;
    }
}
