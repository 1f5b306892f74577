namespace Transport;

/// <summary>What went wrong, in the transport's own taxonomy.</summary>
public enum TransportErrorKind
{
    /// <summary>
    /// The network or the handshake failed (refused, reset, DNS, a non-101 handshake answer other than
    /// 401/403). <see cref="TransportException.HttpStatus"/> tells refusals apart: 400, 404 and 410 are
    /// Permanent by default, 408, 429 and 5xx Transient (<see cref="DefaultFailureClassifier"/>).
    /// </summary>
    Connection,

    /// <summary>A bounded wait ran out (connect timeout, dead-after idle timeout, keep-alive probe).</summary>
    Timeout,

    /// <summary>The handshake was rejected with 401 or 403.</summary>
    Auth,

    /// <summary>The peer broke the WebSocket protocol (malformed frame, invalid UTF-8 in a text message).</summary>
    Protocol,

    /// <summary>A message exceeded the configured maximum message size; the connection was closed with 1009.</summary>
    MessageTooBig,

    /// <summary>The peer closed the connection; <see cref="TransportException.CloseCode"/> holds its code.</summary>
    ClosedByPeer,

    /// <summary>The operation was cancelled by its caller.</summary>
    Cancelled,

    /// <summary>A send pinned to an epoch whose connection ended before the frame reached a socket.</summary>
    StaleEpoch,

    /// <summary>The connection was shut down (or became unrecoverable) before the operation completed.</summary>
    Shutdown,

    /// <summary>
    /// An at-most-once frame's write started but did not complete (the socket failed, stalled past
    /// <c>Send.WriteTimeout</c>, or the session ended mid-write): the venue may or may not have
    /// received it, and it is not resent.
    /// </summary>
    WriteInterrupted,

    /// <summary>
    /// The connection is misconfigured: a service or HTTP handler could not be resolved or built,
    /// or options the builder could not check were rejected by the leaf (a header name, a
    /// subprotocol, a socket setting). Retrying cannot fix it, so the default classifier calls it
    /// Permanent, and it is logged once with its message.
    /// </summary>
    Configuration,

    /// <summary>
    /// The TLS handshake failed authentication: the server's certificate was rejected (untrusted
    /// chain, a name that does not match the URI's host, expired) or a custom
    /// <c>RemoteCertificateValidationCallback</c> refused it. Retrying cannot fix it, so the default
    /// classifier calls it Permanent. The message names the platform's verdict (for example
    /// <c>RemoteCertificateNameMismatch</c>, <c>UntrustedRoot</c>), never the URI.
    /// </summary>
    Tls,

    /// <summary>
    /// permessage-deflate (RFC 7692) failed on this connection: the leaf could not inflate a message
    /// the server compressed (for example the ClientWebSocket leaf and a server that ends messages with
    /// a final, BFINAL=1, deflate block, which RFC 7692 section 7.2.3.3 allows). The default classifier
    /// calls it Transient, and the reconnecting stack stops offering permessage-deflate on that
    /// connection for the rest of its life (<see cref="HandshakeRequest.OfferCompression"/>), so the
    /// next attempt goes uncompressed and the feed flows; the error's message says so
    /// (docs/adr/0019-deflate-fallback.md).
    /// </summary>
    Compression,
}
