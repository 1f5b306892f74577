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

    public static Exception MapReceive(Exception ex, CancellationToken cancellationToken, bool keepAliveTimeoutEnabled)
    {
        if (cancellationToken.IsCancellationRequested && ex is OperationCanceledException)
        {
            return ex;
        }

        if (keepAliveTimeoutEnabled && !cancellationToken.IsCancellationRequested && IsKeepAliveTimeout(ex))
        {
            return TransportException.Timeout("The keep-alive ping got no pong within KeepAliveTimeout.", ex);
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
