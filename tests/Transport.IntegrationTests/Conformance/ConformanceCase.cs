using System.Net.WebSockets;
using System.Text;
using Transport.Testing;

namespace Transport.IntegrationTests.Conformance;

/// <summary>
/// One case of the catalogue (docs/conformance.md): what a scripted server sends, and what RFC 6455 /
/// RFC 7692 say a client must make of it. A leaf that legitimately cannot meet it (the platform's
/// ClientWebSocket) declares its own expectation and the reason, which the table prints.
/// </summary>
/// <param name="Id">Section.number, as in Autobahn|Testsuite's layout.</param>
/// <param name="Title">What the server does.</param>
/// <param name="Rfc">The clause that decides the outcome.</param>
/// <param name="Server">The server's script, after the upgrade.</param>
/// <param name="Expected">The RFC's outcome.</param>
internal sealed record ConformanceCase(string Id, string Title, string Rfc, Func<CaseServer, Task> Server, Expect Expected)
{
    /// <summary>The Sec-WebSocket-Extensions value the server answers with (permessage-deflate cases), or null.</summary>
    public string? Extensions { get; init; }

    /// <summary>What the client offers: permessage-deflate parameters, or null for no compression.</summary>
    public WebSocketDeflateOptions? Offer { get; init; }

    /// <summary>The client's message limit.</summary>
    public int MaxMessageBytes { get; init; } = 1024 * 1024;

    /// <summary>What the client sends once connected, before it starts receiving (client-to-server cases).</summary>
    public Func<ILeafConnection, Task>? Client { get; init; }

    /// <summary>Where a leaf differs from <see cref="Expected"/> for a reason outside this repository (its expectation and the reason).</summary>
    public IReadOnlyDictionary<LeafKind, (Expect Expected, string Why)> Differs { get; init; } = new Dictionary<LeafKind, (Expect, string)>();

    /// <summary>The section, from the id.</summary>
    public string Section => ConformanceCatalogue.Sections[int.Parse(Id.Split('.')[0], System.Globalization.CultureInfo.InvariantCulture)];

    /// <summary>What <paramref name="leaf"/> is held to.</summary>
    public Expect ExpectedFor(LeafKind leaf) => Differs.TryGetValue(leaf, out var differs) ? differs.Expected : Expected;

    public override string ToString() => $"{Id} {Title}";
}

/// <summary>What the client delivered and how its connection ended, as the driver saw it.</summary>
internal sealed record ClientSide(IReadOnlyList<(FrameKind Kind, byte[] Payload)> Messages, Frame? PeerClose, TransportException? Error, bool HandshakeRefused)
{
    public string Describe()
    {
        var end = HandshakeRefused ? $"handshake refused ({Error?.Kind}: {Error?.Message})"
            : PeerClose is { } close ? $"peer close {close.CloseCode} '{close.CloseReason}'"
            : Error is { } error ? $"{error.Kind} {error.CloseCode} ({error.Message})"
            : "no end";
        return $"{Messages.Count} messages [{string.Join(", ", Messages.Select(m => $"{m.Kind} {m.Payload.Length} B"))}]; {end}";
    }
}

/// <summary>What the server saw from the client after its script: pongs, data frames, the client's close code.</summary>
internal sealed record ServerSide(IReadOnlyList<RawFrame> Frames, int? ClientCloseCode, bool ClientClosed)
{
    /// <summary>The client closed while the script was still waiting to send the rest (fail-fast cases).</summary>
    public bool ClosedEarly { get; init; }

    public IEnumerable<byte[]> Pongs => Frames.Where(f => f.Opcode == RawWebSocketWriter.OpPong).Select(f => f.Payload);

    public string Describe() =>
        $"server saw {Frames.Count} frames [{string.Join(", ", Frames.Take(12).Select(f => $"op{f.Opcode}{(f.Rsv != 0 ? $" rsv{f.Rsv}" : string.Empty)} {f.Payload.Length} B"))}]; client close {(ClientClosed ? ClientCloseCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(no code)" : "none")}";
}

/// <summary>An expected outcome: the words the table prints, and the check.</summary>
/// <param name="Text">For the table.</param>
/// <param name="Check">Null when the observation meets the expectation, else why not.</param>
internal sealed record Expect(string Text, Func<ClientSide, ServerSide, string?> Check)
{
    /// <summary>The messages arrive in order, then the server's normal close is received and echoed.</summary>
    public static Expect Delivers(string text, params (FrameKind Kind, byte[] Payload)[] messages) => new(text, (client, server) =>
        SameMessages(client, messages) ?? (client.PeerClose is { CloseCode: 1000 } && server.ClientCloseCode == 1000 ? null : $"expected the normal close echoed (1000), got: {client.Describe()}; {server.Describe()}"));

    /// <summary>The messages arrive, every ping is answered with its payload, then the normal close.</summary>
    public static Expect Pongs(string text, byte[][] pings, params (FrameKind Kind, byte[] Payload)[] messages) => new(text, (client, server) =>
    {
        var pongs = server.Pongs.ToList();
        if (pongs.Count < pings.Length || !pings.Zip(pongs).All(p => p.First.AsSpan().SequenceEqual(p.Second)))
        {
            return $"expected {pings.Length} pong(s) echoing the ping payloads, the server saw {pongs.Count}: {server.Describe()}";
        }

        return Delivers(text, messages).Check(client, server);
    });

    /// <summary>The client fails the connection with one of <paramref name="codes"/> after delivering <paramref name="before"/>.</summary>
    public static Expect Fails(string text, int[] codes, params (FrameKind Kind, byte[] Payload)[] before) => new(text, (client, server) =>
    {
        if (SameMessages(client, before) is { } messages)
        {
            return messages;
        }

        if (client.PeerClose is not null || client.Error is null)
        {
            return $"expected the client to fail the connection ({string.Join(" or ", codes)}), got: {client.Describe()}";
        }

        return server.ClientCloseCode is { } code && codes.Contains(code)
            ? null
            : $"expected close code {string.Join(" or ", codes)} on the wire, got: {server.Describe()} / {client.Describe()}";
    });

    /// <summary>Like <see cref="Fails"/>, and the client closed before the server sent the rest of the message.</summary>
    public static Expect FailsFast(string text, int[] codes) => new(text, (client, server) =>
        Fails(text, codes).Check(client, server) ?? (server.ClosedEarly ? null : "the client failed only once the message ended, not as soon as the bytes were known invalid"));

    /// <summary>The client reports the server's close as <paramref name="reported"/> and echoes <paramref name="echoed"/>.</summary>
    public static Expect Closes(string text, int reported, int echoed, string? reason = null) => new(text, (client, server) =>
        client.PeerClose is { } close && close.CloseCode == reported && (reason is null || close.CloseReason == reason) && server.ClientCloseCode == echoed
            ? null
            : $"expected the close reported as {reported}{(reason is null ? string.Empty : $" '{reason}'")} and {echoed} echoed, got: {client.Describe()}; {server.Describe()}");

    /// <summary>The handshake is refused (the client fails the connection before it opens).</summary>
    public static Expect Refused(string text) => new(text, (client, _) => client.HandshakeRefused ? null : $"expected the handshake refused, got: {client.Describe()}");

    /// <summary>The connection drops without a close code from the client (the platform aborts).</summary>
    public static Expect Drops(string text, params (FrameKind Kind, byte[] Payload)[] before) => new(text, (client, server) =>
        SameMessages(client, before) ?? (client.Error is not null && server.ClientCloseCode is null ? null : $"expected a dropped connection without a close code, got: {client.Describe()}; {server.Describe()}"));

    public static (FrameKind, byte[]) Message(string text) => (FrameKind.Text, Encoding.UTF8.GetBytes(text));

    public static (FrameKind, byte[]) TextBytes(byte[] utf8) => (FrameKind.Text, utf8);

    public static (FrameKind, byte[]) Binary(byte[] bytes) => (FrameKind.Binary, bytes);

    private static string? SameMessages(ClientSide client, (FrameKind Kind, byte[] Payload)[] expected)
    {
        if (client.Messages.Count != expected.Length)
        {
            return $"expected {expected.Length} message(s), got: {client.Describe()}";
        }

        for (var i = 0; i < expected.Length; i++)
        {
            if (client.Messages[i].Kind != expected[i].Kind || !client.Messages[i].Payload.AsSpan().SequenceEqual(expected[i].Payload))
            {
                return $"message {i} differs from the expected {expected[i].Kind} of {expected[i].Payload.Length} B: {client.Describe()}";
            }
        }

        return null;
    }
}
