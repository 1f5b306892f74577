namespace Transport;

/// <summary>What the server's handshake response said, as far as the leaf could see it.</summary>
/// <param name="StatusCode">The HTTP status of the upgrade response (101 when it succeeded).</param>
/// <param name="SubProtocol">The subprotocol the server selected, if any.</param>
/// <param name="Extensions">The negotiated extensions as the server stated them (e.g. <c>permessage-deflate; client_max_window_bits=15</c>).</param>
/// <param name="Headers">The response headers (names case-insensitive); empty when the leaf cannot see them.</param>
/// <remarks>
/// <see cref="ToString"/> lists header names only, never values: a response may set cookies or echo a token.
/// </remarks>
public sealed record HandshakeResponse(
    int StatusCode,
    string? SubProtocol,
    IReadOnlyList<string> Extensions,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Headers)
{
    /// <summary>An empty header set.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> NoHeaders { get; } =
        new Dictionary<string, IReadOnlyList<string>>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The first value of a response header, or null.</summary>
    /// <param name="name">The header name (case-insensitive).</param>
    /// <returns>The first value, or null when the header is absent.</returns>
    public string? GetHeader(string name) =>
        Headers.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;

    /// <inheritdoc />
    public override string ToString() =>
        $"HandshakeResponse {{ StatusCode = {StatusCode}, SubProtocol = {SubProtocol ?? "none"}, Extensions = [{string.Join(", ", Extensions)}], Headers = [{string.Join(", ", Headers.Keys)}] }}";
}
