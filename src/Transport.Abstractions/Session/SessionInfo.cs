namespace Transport;

/// <summary>
/// The facts of one connected socket (one epoch): what the handshake negotiated and when the
/// socket opened. Read it from <see cref="ReconnectingConnection.Session"/> or
/// <see cref="ISessionContext.Session"/>.
/// </summary>
/// <param name="Epoch">The epoch this socket serves (as on its frames and in the lifecycle snapshot).</param>
/// <param name="ConnectedAt">When the handshake completed (the connection's <see cref="TimeProvider"/>).</param>
/// <param name="SubProtocol">The subprotocol the server selected, if any.</param>
/// <param name="Extensions">The extensions the server negotiated (e.g. <c>permessage-deflate</c>); empty when none or when the leaf cannot see them.</param>
/// <param name="ResponseHeaders">
/// The response headers named in <see cref="SessionOptions.ResponseHeaders"/> (first value each; names
/// case-insensitive). Other headers are not kept beyond the session initializer: a response may set
/// cookies or echo a token.
/// </param>
/// <param name="Capabilities">What the leaf of this socket can see (decides which liveness signals apply).</param>
/// <param name="Endpoint">The endpoint connected to, redacted (safe to log).</param>
public sealed record SessionInfo(
    long Epoch,
    DateTimeOffset ConnectedAt,
    string? SubProtocol,
    IReadOnlyList<string> Extensions,
    IReadOnlyDictionary<string, string> ResponseHeaders,
    LeafCapabilities Capabilities,
    string Endpoint)
{
    /// <summary>A selected response header's value, or null.</summary>
    /// <param name="name">The header name (case-insensitive).</param>
    /// <returns>The value, or null when the header was absent or not selected.</returns>
    public string? GetHeader(string name) => ResponseHeaders.TryGetValue(name, out var value) ? value : null;

    /// <summary>One line, safe to log: header names only, never values.</summary>
    public override string ToString() =>
        $"epoch={Epoch} connectedAt={ConnectedAt:O} subprotocol={SubProtocol ?? "none"} extensions=[{string.Join(", ", Extensions)}] headers=[{string.Join(", ", ResponseHeaders.Keys)}] capabilities={Capabilities} endpoint={Endpoint}";
}
