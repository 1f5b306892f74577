namespace Transport.WebSockets.Initialization;

/// <summary>Builds a socket's <see cref="SessionInfo"/> from what its leaf reported.</summary>
internal static class SessionFacts
{
    private static readonly IReadOnlyDictionary<string, string> NoHeaders = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The facts of one socket; only the response headers named in <paramref name="keepHeaders"/> are kept.</summary>
    public static SessionInfo Create(long epoch, DateTimeOffset connectedAt, HandshakeResponse handshake, LeafCapabilities capabilities, IReadOnlyList<string> keepHeaders, string redactedEndpoint)
    {
        var headers = NoHeaders;
        if (keepHeaders.Count > 0)
        {
            var kept = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var name in keepHeaders)
            {
                if (handshake.GetHeader(name) is { } value)
                {
                    kept[name] = value;
                }
            }

            headers = kept;
        }

        return new SessionInfo(epoch, connectedAt, handshake.SubProtocol, handshake.Extensions, headers, capabilities, redactedEndpoint);
    }
}
