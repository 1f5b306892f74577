using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;

namespace Transport.WebSockets;

/// <summary>
/// Maps platform exceptions into the transport's taxonomy. Messages are composed here from error
/// codes only: platform messages may echo the URI (and its credential-bearing query).
/// </summary>
internal static class WebSocketFailures
{
    /// <summary>A short, secret-free description: error codes and exception types only.</summary>
    public static string Describe(Exception ex)
    {
        var parts = new List<string>();
        for (var e = ex; e is not null; e = e.InnerException)
        {
            parts.Add(e switch
            {
                WebSocketException w => $"WebSocketError.{w.WebSocketErrorCode}",
                SocketException s => $"SocketError.{s.SocketErrorCode}",
                HttpRequestException h => $"HttpRequestError.{h.HttpRequestError}",
                _ => e.GetType().Name,
            });
        }

        return string.Join(" <- ", parts);
    }

    // ClientWebSocket throws a message-less Faulted error (the platform's default text) when it
    // closes the socket itself over a bad payload: invalid UTF-8 in a text message (it sends 1007),
    // or a malformed close frame (it sends 1002). Every other protocol violation carries a specific
    // message. The platform does not expose the code it sent, so this shape is the only signal.
    private static readonly string DefaultFaultedMessage = new WebSocketException(WebSocketError.Faulted).Message;

    /// <summary>Maps a failed receive into the taxonomy (or returns the caller's cancellation as it is).</summary>
    /// <param name="ex">What ClientWebSocket's ReceiveAsync threw.</param>
    /// <param name="cancellationToken">The receive's token.</param>
    /// <param name="keepAliveTimeoutEnabled">Whether a keep-alive timeout can have aborted the socket.</param>
    /// <param name="deflateNegotiated">Whether permessage-deflate was negotiated on this socket.</param>
    public static Exception MapReceive(Exception ex, CancellationToken cancellationToken, bool keepAliveTimeoutEnabled, bool deflateNegotiated = false)
    {
        if (cancellationToken.IsCancellationRequested && ex is OperationCanceledException)
        {
            return ex;
        }

        if (keepAliveTimeoutEnabled && !cancellationToken.IsCancellationRequested && IsKeepAliveTimeout(ex))
        {
            return TransportException.Timeout("The keep-alive ping got no pong within KeepAliveTimeout.", ex);
        }

        if (deflateNegotiated && IsInflateFailure(ex))
        {
            return MapInflateFailure(ex);
        }

        return ex switch
        {
            WebSocketException { WebSocketErrorCode: WebSocketError.ConnectionClosedPrematurely } =>
                new TransportException(TransportErrorKind.Connection, "The connection closed without a close frame.", closeCode: CloseCodes.Abnormal, inner: ex),
            WebSocketException { WebSocketErrorCode: WebSocketError.Faulted, InnerException: null } when ex.Message == DefaultFaultedMessage =>
                TransportException.Protocol("A text message was not valid UTF-8 (or a close frame was malformed); the connection was closed.", CloseCodes.InvalidPayload, ex),
            WebSocketException { WebSocketErrorCode: WebSocketError.Faulted or WebSocketError.HeaderError or WebSocketError.InvalidMessageType or WebSocketError.UnsupportedProtocol or WebSocketError.UnsupportedVersion, InnerException: null } =>
                TransportException.Protocol($"The peer broke the WebSocket protocol ({Describe(ex)}).", CloseCodes.ProtocolError, ex),
            OperationCanceledException =>
                new TransportException(TransportErrorKind.Connection, "The socket was aborted during a receive.", closeCode: CloseCodes.Abnormal, inner: ex),
            _ => new TransportException(TransportErrorKind.Connection, $"The receive failed ({Describe(ex)}).", closeCode: CloseCodes.Abnormal, inner: ex),
        };
    }

    /// <summary>
    /// ClientWebSocket's inflater (System.Net.WebSockets.Compression.WebSocketInflater) reports every
    /// failure with the message-only <see cref="WebSocketException(string)"/> constructor, so with
    /// <see cref="WebSocketError.Success"/> as its code and no inner exception, and aborts the socket.
    /// Every other receive failure carries a specific code (Faulted, HeaderError,
    /// ConnectionClosedPrematurely, ...) or wraps its cause. Checked on .NET 10: a message ended with a
    /// final deflate block throws "Data received after the DEFLATE stream was terminated with BFINAL."
    /// (net_WebSockets_DataAfterBFinal), invalid deflate data "The message was compressed using
    /// an unsupported compression method." (ZLibUnsupportedCompression); the socket is then Aborted.
    /// </summary>
    private static bool IsInflateFailure(Exception ex) =>
        ex is WebSocketException { WebSocketErrorCode: WebSocketError.Success, InnerException: null };

    // The platform's text is English in every .NET build (System.Net.WebSockets ships no localized
    // resources); it only picks the wording, never the kind. It is not echoed: ours is composed.
    private static TransportException MapInflateFailure(Exception ex) =>
        ex.Message.Contains("BFINAL", StringComparison.Ordinal)
            ? TransportException.Compression(
                "permessage-deflate failed: the server ended a compressed message with a final (BFINAL=1) deflate block, which RFC 7692 section 7.2.3.3 allows and "
                + "ClientWebSocket cannot inflate; it dropped the connection (the Pipelines leaf inflates such messages).",
                CloseCodes.Abnormal,
                ex)
            : TransportException.Compression(
                "permessage-deflate failed: ClientWebSocket could not inflate a compressed message from the server and dropped the connection.",
                CloseCodes.Abnormal,
                ex);

    /// <summary>
    /// Maps a failed <see cref="ClientWebSocket.ConnectAsync(Uri, HttpMessageInvoker?, CancellationToken)"/>.
    /// Cancellation of the caller's token is rethrown as <see cref="OperationCanceledException"/>:
    /// only the stack above knows whether that was its connect timeout or a shutdown.
    /// </summary>
    /// <param name="ex">What ConnectAsync threw.</param>
    /// <param name="httpStatus">The handshake response's status (0 when none was received).</param>
    /// <param name="headers">The handshake response's headers, when the platform collected them.</param>
    /// <param name="now">Wall-clock time, for a Retry-After given as an HTTP date.</param>
    /// <param name="cancellationToken">The attempt's token.</param>
    public static Exception MapConnect(Exception ex, int httpStatus, IReadOnlyDictionary<string, IEnumerable<string>>? headers, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ex as OperationCanceledException ?? new OperationCanceledException("The connect attempt was cancelled.", ex, cancellationToken);
        }

        // A configuration error raised below ClientWebSocket (the hosted HTTP handler pipeline could
        // not be built) arrives wrapped in WebSocketException(Faulted): surface it as it is.
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is TransportException { Kind: TransportErrorKind.Configuration } configuration)
            {
                return configuration;
            }
        }

        if ((MapProxy(ex) ?? MapTls(ex)) is { } mapped)
        {
            return mapped;
        }

        if (httpStatus != 0 && httpStatus != 101)
        {
            TimeSpan? retryAfter = null;
            if (headers is not null && headers.TryGetValue("Retry-After", out var values))
            {
                retryAfter = RetryAfterHeader.Parse(values, now);
            }

            return TransportException.HandshakeRejected(httpStatus, ex, retryAfter);
        }

        if (ex is ArgumentException or NotSupportedException)
        {
            // Thrown by ClientWebSocket itself before any I/O: its options are inconsistent.
            return ConfigurationFailure("ClientWebSocket rejected its options", ex);
        }

        return TransportException.Connection($"The WebSocket connect failed ({Describe(ex)}).", ex);
    }

    // The verdict names the platform puts in an AuthenticationException's message. Only these
    // whitelisted names are copied into ours: the platform message itself is never echoed.
    private static readonly string[] PolicyVerdicts =
        [.. Enum.GetNames<System.Net.Security.SslPolicyErrors>().Where(n => n != nameof(System.Net.Security.SslPolicyErrors.None))];

    private static readonly string[] ChainVerdicts =
        [.. Enum.GetNames<System.Security.Cryptography.X509Certificates.X509ChainStatusFlags>().Where(n => n != nameof(System.Security.Cryptography.X509Certificates.X509ChainStatusFlags.NoError))];

    /// <summary>
    /// A TLS handshake that failed authentication (an <see cref="System.Security.Authentication.AuthenticationException"/>
    /// anywhere in the chain: the certificate was untrusted, named another host, or a validation
    /// callback refused it) as a <see cref="TransportErrorKind.Tls"/> error; null for anything else.
    /// </summary>
    /// <param name="ex">What the connect threw.</param>
    public static TransportException? MapTls(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is System.Security.Authentication.AuthenticationException auth)
            {
                return TransportException.Tls(DescribeTls(auth), ex);
            }
        }

        return null;
    }

    /// <summary>
    /// A CONNECT tunnel the HTTP proxy refused (SocketsHttpHandler's ProxyTunnelError). 407 (the
    /// proxy wants credentials) and 403 (its policy forbids the destination) are
    /// <see cref="TransportErrorKind.Configuration"/>, so Permanent: retrying cannot fix them and
    /// hammering a corporate proxy gets the host flagged. Any other refusal (502, 503, 504: the proxy
    /// could not reach the venue) is Connection, so Transient. <see cref="TransportException.HttpStatus"/>
    /// stays null: it is the venue's status, and the venue never answered. Null for anything else.
    /// </summary>
    /// <param name="ex">What the connect threw.</param>
    public static TransportException? MapProxy(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException { HttpRequestError: HttpRequestError.ProxyTunnelError } tunnel)
            {
                var status = tunnel.StatusCode is { } code ? (int)code : ProxyStatusFromMessage(tunnel.Message);
                return status switch
                {
                    407 => TransportException.Configuration("The HTTP proxy refused the tunnel with HTTP 407 (Proxy Authentication Required): give the proxy its credentials (WebProxy.Credentials on the handler or on ClientWebSocketOptions.Proxy).", ex),
                    403 => TransportException.Configuration("The HTTP proxy refused the tunnel with HTTP 403: its policy does not allow this destination.", ex),
                    { } other => TransportException.Connection($"The HTTP proxy could not open the tunnel (HTTP {other}).", ex),
                    null => TransportException.Connection($"The HTTP proxy could not open the tunnel ({Describe(ex)}).", ex),
                };
            }
        }

        return null;
    }

    // SocketsHttpHandler puts the proxy's status only into its message ("... failed with status
    // code '407'."): take the last quoted three-digit number. The message itself is never echoed
    // (it names the proxy's URI, which may carry credentials).
    private static int? ProxyStatusFromMessage(string message)
    {
        int? status = null;
        for (var i = message.IndexOf('\'', StringComparison.Ordinal); i >= 0 && i + 4 < message.Length; i = message.IndexOf('\'', i + 1))
        {
            if (message[i + 4] == '\'' && char.IsAsciiDigit(message[i + 1]) && char.IsAsciiDigit(message[i + 2]) && char.IsAsciiDigit(message[i + 3]))
            {
                status = int.Parse(message.AsSpan(i + 1, 3), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return status;
    }

    private static string DescribeTls(System.Security.Authentication.AuthenticationException auth)
    {
        var text = auth.Message;
        var policy = PolicyVerdicts.Where(v => ContainsWord(text, v)).ToList();
        var chain = ChainVerdicts.Where(v => ContainsWord(text, v)).ToList();
        if (chain.Count > 0 && !policy.Contains(nameof(System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors)))
        {
            policy.Add(nameof(System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors));
        }

        var verdicts = new List<string>();
        if (text.Contains("RemoteCertificateValidationCallback", StringComparison.Ordinal))
        {
            verdicts.Add("refused by the RemoteCertificateValidationCallback");
        }

        verdicts.AddRange(policy);
        var why = verdicts.Count > 0 ? string.Join(", ", verdicts) : nameof(System.Security.Authentication.AuthenticationException);
        if (chain.Count > 0)
        {
            why += ": " + string.Join(", ", chain);
        }

        return $"The TLS handshake failed: the server's certificate was rejected ({why}). Check that the URI's host is a name the certificate carries, "
            + "or trust the certificate's issuer through the HTTP handler's RemoteCertificateValidationCallback (see README \"TLS and proxies\").";
    }

    private static bool ContainsWord(string text, string word)
    {
        for (var i = text.IndexOf(word, StringComparison.Ordinal); i >= 0; i = text.IndexOf(word, i + 1, StringComparison.Ordinal))
        {
            var end = i + word.Length;
            if ((i == 0 || !char.IsLetterOrDigit(text[i - 1])) && (end == text.Length || !char.IsLetterOrDigit(text[end])))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A <see cref="TransportErrorKind.Configuration"/> error whose message names the exception's
    /// type and, for argument errors, the parameter; never a value (a header value may be a token).
    /// </summary>
    public static TransportException ConfigurationFailure(string what, Exception ex)
    {
        var detail = ex is ArgumentException { ParamName: { } param } ? $"{ex.GetType().Name} for '{param}'" : ex.GetType().Name;
        return TransportException.Configuration($"{what}: {detail}. Check the connection's options, headers and ConfigureClientWebSocket callbacks.", ex);
    }

    /// <summary>
    /// A configuration error's message with anything that looks like an absolute URI redacted (its
    /// query may carry a credential). Used for messages written by the DI container, which name
    /// services and types.
    /// </summary>
    public static string RedactMessage(string message)
    {
        var words = message.Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            var word = words[i].Trim('\'', '"', '(', ')', '.', ',');
            if (word.Contains("://", StringComparison.Ordinal) && Uri.TryCreate(word, UriKind.Absolute, out var uri))
            {
                words[i] = words[i].Replace(word, Redaction.RedactUri(uri), StringComparison.Ordinal);
            }
        }

        return string.Join(' ', words);
    }

    public static TransportException MapSend(Exception ex) =>
        TransportException.Connection($"The send failed ({Describe(ex)}).", ex);

    /// <summary>
    /// A keep-alive pong timeout aborts the socket from ClientWebSocket's timer: the pending read
    /// fails with an OperationCanceledException (a later read with a WebSocketException) whose
    /// inner exceptions (possibly through an AggregateException) hold the message-bearing Faulted
    /// WebSocketException describing the timeout. Protocol errors are thrown directly, never nested.
    /// </summary>
    private static bool IsKeepAliveTimeout(Exception ex)
    {
        if (ex is WebSocketException { WebSocketErrorCode: WebSocketError.Faulted, InnerException: null })
        {
            return false;
        }

        var pending = new Stack<Exception>();
        if (ex.InnerException is { } first)
        {
            pending.Push(first);
        }

        while (pending.TryPop(out var e))
        {
            if (e is WebSocketException { WebSocketErrorCode: WebSocketError.Faulted, InnerException: null })
            {
                return true;
            }

            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (e.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }

        return false;
    }
}
