namespace Transport.Testing;

/// <summary>One upgrade request exactly as the loopback server saw it.</summary>
/// <param name="Path">The request path (for example "/ws").</param>
/// <param name="QueryString">The raw query string including the leading '?', or empty.</param>
/// <param name="Headers">Every request header (case-insensitive names; repeated values joined with ", ").</param>
/// <param name="Cookies">The cookies the server parsed from the Cookie header.</param>
/// <param name="RequestedSubProtocols">The subprotocols the client offered, in order.</param>
/// <param name="IsWebSocketRequest">True when the request was a WebSocket upgrade.</param>
public sealed record ReceivedHandshake(
    string Path,
    string QueryString,
    IReadOnlyDictionary<string, string> Headers,
    IReadOnlyDictionary<string, string> Cookies,
    IReadOnlyList<string> RequestedSubProtocols,
    bool IsWebSocketRequest);
