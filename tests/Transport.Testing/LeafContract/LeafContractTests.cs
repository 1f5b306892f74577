using System.Text;
using Xunit;

namespace Transport.Testing.LeafContract;

/// <summary>
/// One contract, every leaf: the abstract suite each leaf (ClientWebSocket, Pipelines) and the mock
/// socket run, in the style of the System.Threading.Channels test base. A derived class supplies the
/// factory and says, through the capability flags, where its leaf legitimately differs.
/// </summary>
/// <remarks>
/// Invariant ids: Leaf.C1 (data round-trips, fragments reassembled, order kept across TryReceive
/// batches), Leaf.C2 (1009 on oversize), Leaf.C3 (1007 on invalid UTF-8), Leaf.C4 (close handshake
/// both ways), Leaf.C5 (peer abort is Connection/1006), Leaf.C6 (cancellation), Leaf.C7 (pings per
/// capability), Leaf.C8 (handshake facts), Leaf.C9 (ReceivedAt stamped), Leaf.C10 (a Text frame that is
/// not valid UTF-8 is refused by the sender, ArgumentException, and never written).
/// </remarks>
public abstract class LeafContractTests
{
    /// <summary>The bound on every wait: generous, so only a real hang trips it.</summary>
    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>The fixed timestamp <see cref="StampingClock"/> returns.</summary>
    protected const long StampedAt = 4_242_424_242;

    /// <summary>Opens a connection with its peer.</summary>
    /// <param name="settings">What the test needs.</param>
    /// <returns>The peer (which owns the connection).</returns>
    protected abstract Task<ILeafPeer> OpenAsync(LeafContractSettings settings);

    /// <summary>The capabilities the leaf must advertise.</summary>
    protected abstract LeafCapabilities ExpectedCapabilities { get; }

    /// <summary>True when the peer can observe the close code the client sends on a violation (a real socket); false for a double.</summary>
    protected virtual bool PeerSeesViolationClose => true;

    /// <summary>True when the client echoes the peer's close frame itself (a real leaf).</summary>
    protected virtual bool EchoesPeerClose => true;

    /// <summary>True when the leaf reports response headers in <see cref="ILeafConnection.Handshake"/>.</summary>
    protected virtual bool SeesResponseHeaders => true;

    /// <summary>True when the leaf stamps <see cref="Frame.ReceivedAt"/> from the settings' clock.</summary>
    protected virtual bool StampsReceivedAt => true;

    /// <summary>A clock whose timestamp is always <see cref="StampedAt"/>.</summary>
    protected static TimeProvider StampingClock { get; } = new FixedClock();

    [Fact]
    [Trait("Invariant", "Leaf.C1")]
    public async Task Text_and_binary_messages_arrive_whole_with_their_kind()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());
        var binary = new byte[] { 0, 1, 2, 255, 254 };

        await peer.SendAsync(Encoding.UTF8.GetBytes("héllo ✓"), text: true);
        await peer.SendAsync(binary, text: false);
        var text = await ReceiveAsync(peer);
        var bin = await ReceiveAsync(peer);

        Assert.Equal(FrameKind.Text, text.Kind);
        Assert.Equal("héllo ✓", text.GetText());
        Assert.Equal(FrameKind.Binary, bin.Kind);
        Assert.Equal(binary, bin.Payload.ToArray());
    }

    [Fact]
    [Trait("Invariant", "Leaf.C1")]
    public async Task Sent_text_and_binary_reach_the_peer_unchanged()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());
        var big = new byte[200_000];
        new Random(5).NextBytes(big);

        await peer.Connection.Sender.SendAsync(Frame.Text("order 42 ✓"), CancellationToken.None).AsTask().WaitAsync(Bound);
        await peer.Connection.Sender.SendAsync(Frame.Binary(big), CancellationToken.None).AsTask().WaitAsync(Bound);

        var first = await NextDataAsync(peer);
        var second = await NextDataAsync(peer);
        Assert.Equal(FrameKind.Text, first.Kind);
        Assert.Equal("order 42 ✓", first.GetText());
        Assert.Equal(FrameKind.Binary, second.Kind);
        Assert.True(big.AsSpan().SequenceEqual(second.Payload.Span));
    }

    [Fact]
    [Trait("Invariant", "Leaf.C1")]
    public async Task Fragmented_text_split_inside_characters_is_reassembled()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());
        var text = string.Concat(Enumerable.Repeat("€uro✓", 500));

        await peer.SendAsync(Encoding.UTF8.GetBytes(text), text: true, fragmentBytes: 7);

        Assert.Equal(text, (await ReceiveAsync(peer)).GetText());
    }

    [Fact]
    [Trait("Invariant", "Leaf.C1")]
    public async Task A_large_message_in_small_fragments_is_reassembled_byte_exact()
    {
        await using var peer = await OpenAsync(new LeafContractSettings(MaxMessageBytes: 2 * 1024 * 1024));
        var message = new byte[1024 * 1024];
        new Random(1234).NextBytes(message);

        var sending = peer.SendAsync(message, text: false, fragmentBytes: 4096);
        var frame = await ReceiveAsync(peer);
        await sending.WaitAsync(Bound);

        Assert.True(message.AsSpan().SequenceEqual(frame.Payload.Span));
    }

    [Fact]
    [Trait("Invariant", "Leaf.C1")]
    public async Task A_burst_arrives_in_order_through_ReceiveAsync_and_TryReceive()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());
        const int count = 300;
        for (var i = 0; i < count; i++)
        {
            await peer.SendAsync(Encoding.ASCII.GetBytes(i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture)), text: true);
        }

        var seen = new List<int>();
        var batched = 0;
        while (seen.Count < count)
        {
            seen.Add(int.Parse((await ReceiveAsync(peer)).GetText(), System.Globalization.CultureInfo.InvariantCulture));
            while (peer.Connection.Receiver.TryReceive(out var more))
            {
                batched++;
                seen.Add(int.Parse(more.GetText(), System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        Assert.Equal(Enumerable.Range(0, count), seen);
        if (!ExpectedCapabilities.HasFlag(LeafCapabilities.BatchReceive))
        {
            Assert.Equal(0, batched);
        }
    }

    [Fact]
    [Trait("Invariant", "Leaf.C10")]
    public async Task A_text_frame_that_is_not_valid_utf8_is_refused_by_the_sender_and_never_written()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());

        await Assert.ThrowsAsync<ArgumentException>(async () => await peer.Connection.Sender.SendAsync(Frame.Text(new byte[] { 0x61, 0xC3, 0x28 }), CancellationToken.None).AsTask().WaitAsync(Bound));
        await peer.Connection.Sender.SendAsync(Frame.Text("after"), CancellationToken.None).AsTask().WaitAsync(Bound);

        var first = await NextDataAsync(peer);
        Assert.Equal("after", first.GetText());
    }

    [Fact]
    [Trait("Invariant", "Leaf.C2")]
    public async Task An_oversized_message_fails_with_MessageTooBig_and_closes_1009()
    {
        const int limit = 64 * 1024;
        await using var peer = await OpenAsync(new LeafContractSettings(MaxMessageBytes: limit));

        var sending = peer.SendOversizedAsync(limit * 3);
        var error = await ReceiveFailsAsync(peer);

        Assert.Equal(TransportErrorKind.MessageTooBig, error.Kind);
        Assert.Equal(CloseCodes.MessageTooBig, error.CloseCode);
        if (PeerSeesViolationClose)
        {
            Assert.Equal(CloseCodes.MessageTooBig, await PeerCloseCodeAsync(peer));
        }

        Assert.Equal(TransportErrorKind.MessageTooBig, (await ReceiveFailsAsync(peer)).Kind);
        _ = sending;
    }

    [Fact]
    [Trait("Invariant", "Leaf.C2")]
    public async Task A_message_of_exactly_the_limit_is_accepted()
    {
        const int limit = 10_000;
        await using var peer = await OpenAsync(new LeafContractSettings(MaxMessageBytes: limit));
        var message = new byte[limit];
        new Random(7).NextBytes(message);

        await peer.SendAsync(message, text: false, fragmentBytes: 3000);

        var frame = await ReceiveAsync(peer);

        Assert.True(message.AsSpan().SequenceEqual(frame.Payload.Span));
    }

    [Fact]
    [Trait("Invariant", "Leaf.C3")]
    public async Task Invalid_utf8_fails_with_Protocol_and_closes_1007()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());

        await peer.SendInvalidUtf8Async();
        var error = await ReceiveFailsAsync(peer);

        Assert.Equal(TransportErrorKind.Protocol, error.Kind);
        Assert.Equal(CloseCodes.InvalidPayload, error.CloseCode);
        if (PeerSeesViolationClose)
        {
            Assert.Equal(CloseCodes.InvalidPayload, await PeerCloseCodeAsync(peer));
        }
    }

    [Fact]
    [Trait("Invariant", "Leaf.C4")]
    public async Task The_peers_close_is_returned_once_then_ClosedByPeer()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());

        await peer.SendAsync("last"u8.ToArray(), text: true);
        await peer.SendCloseAsync(4001, "venue maintenance");

        Assert.Equal("last", (await ReceiveAsync(peer)).GetText());
        Assert.Equal(Frame.Close(4001, "venue maintenance"), await ReceiveAsync(peer));
        var after = await ReceiveFailsAsync(peer);
        Assert.Equal(TransportErrorKind.ClosedByPeer, after.Kind);
        Assert.Equal(4001, after.CloseCode);
        Assert.Equal("venue maintenance", after.CloseReason);
        if (EchoesPeerClose)
        {
            Assert.Equal(4001, await PeerCloseCodeAsync(peer));
        }
    }

    [Fact]
    [Trait("Invariant", "Leaf.C4")]
    public async Task Our_close_reaches_the_peer_and_its_answer_is_received()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());

        await peer.Connection.Sender.CloseAsync(CloseCodes.NormalClosure, "bye", CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.Equal(CloseCodes.NormalClosure, await PeerCloseCodeAsync(peer));
        await peer.SendCloseAsync(CloseCodes.NormalClosure, null);

        var answer = await ReceiveAsync(peer);
        Assert.Equal(FrameKind.Close, answer.Kind);
        Assert.Equal(CloseCodes.NormalClosure, answer.CloseCode);
    }

    [Fact]
    [Trait("Invariant", "Leaf.C5")]
    public async Task A_peer_abort_fails_the_receive_with_Connection_and_1006()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());

        peer.Abort();
        var error = await ReceiveFailsAsync(peer);

        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Equal(CloseCodes.Abnormal, error.CloseCode);
    }

    [Fact]
    [Trait("Invariant", "Leaf.C6")]
    public async Task A_cancelled_receive_throws_OperationCanceledException()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());
        using var cts = new CancellationTokenSource();

        var receiving = peer.Connection.Receiver.ReceiveAsync(cts.Token).AsTask();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => receiving.WaitAsync(Bound));
    }

    [Fact]
    [Trait("Invariant", "Leaf.C7")]
    public async Task Pings_are_surfaced_or_answered_as_the_capabilities_say()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());
        var capabilities = peer.Connection.Capabilities;
        Assert.Equal(ExpectedCapabilities, capabilities);

        await peer.SendAsync("part-1"u8.ToArray(), text: true);
        await peer.SendPingAsync([7, 7]);
        await peer.SendAsync("part-2"u8.ToArray(), text: true);

        Assert.Equal("part-1", (await ReceiveAsync(peer)).GetText());
        if (capabilities.HasFlag(LeafCapabilities.SurfacesPings))
        {
            var ping = await ReceiveAsync(peer);
            Assert.Equal(FrameKind.Ping, ping.Kind);
            Assert.Equal(new byte[] { 7, 7 }, ping.Payload.ToArray());
        }

        Assert.Equal("part-2", (await ReceiveAsync(peer)).GetText());
        if (capabilities.HasFlag(LeafCapabilities.AnswersPingsItself))
        {
            var pong = await peer.ReceiveAsync().WaitAsync(Bound);
            Assert.Equal(FrameKind.Pong, pong?.Kind);
            Assert.Equal(new byte[] { 7, 7 }, pong!.Value.Payload.ToArray());
        }
    }

    [Fact]
    [Trait("Invariant", "Leaf.C7")]
    public async Task A_pong_the_client_sends_reaches_the_peer_when_pings_are_surfaced()
    {
        await using var peer = await OpenAsync(new LeafContractSettings());
        if (!peer.Connection.Capabilities.HasFlag(LeafCapabilities.SurfacesPings))
        {
            return; // a leaf that answers pings itself ignores pong sends (documented on ILeafSender)
        }

        await peer.Connection.Sender.SendAsync(Frame.Pong(new byte[] { 1, 2, 3 }), CancellationToken.None).AsTask().WaitAsync(Bound);

        var pong = await peer.ReceiveAsync().WaitAsync(Bound);
        Assert.Equal(FrameKind.Pong, pong?.Kind);
        Assert.Equal(new byte[] { 1, 2, 3 }, pong!.Value.Payload.ToArray());
    }

    [Fact]
    [Trait("Invariant", "Leaf.C8")]
    public async Task Handshake_facts_report_status_subprotocol_and_headers()
    {
        await using var peer = await OpenAsync(new LeafContractSettings(SubProtocols: ["v1", "v2"], SelectSubProtocol: "v2", ResponseHeader: ("X-Venue-Region", "eu-1")));

        var facts = peer.Connection.Handshake;

        Assert.Equal(101, facts.StatusCode);
        Assert.Equal("v2", facts.SubProtocol);
        Assert.Equal("v2", peer.Connection.SubProtocol);
        if (SeesResponseHeaders)
        {
            Assert.Equal("eu-1", facts.GetHeader("x-venue-region"));
            Assert.DoesNotContain("eu-1", facts.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    [Trait("Invariant", "Leaf.C9")]
    public async Task Frames_are_stamped_with_the_connections_clock()
    {
        await using var peer = await OpenAsync(new LeafContractSettings(Time: StampingClock));

        await peer.SendAsync("tick"u8.ToArray(), text: true);
        var frame = await ReceiveAsync(peer);

        Assert.Equal(StampsReceivedAt ? StampedAt : 0, frame.ReceivedAt);
    }

    /// <summary>The next frame the client receives, bounded.</summary>
    /// <param name="peer">The peer.</param>
    /// <returns>The frame.</returns>
    protected static Task<Frame> ReceiveAsync(ILeafPeer peer) =>
        peer.Connection.Receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Bound);

    /// <summary>The receive's failure, bounded.</summary>
    /// <param name="peer">The peer.</param>
    /// <returns>The error.</returns>
    protected static async Task<TransportException> ReceiveFailsAsync(ILeafPeer peer) =>
        await Assert.ThrowsAsync<TransportException>(() => ReceiveAsync(peer));

    /// <summary>The close code the peer saw from the client (skipping other frames), bounded.</summary>
    /// <param name="peer">The peer.</param>
    /// <returns>The code, or null when the connection ended without a close frame.</returns>
    protected static async Task<int?> PeerCloseCodeAsync(ILeafPeer peer)
    {
        while (await peer.ReceiveAsync().WaitAsync(Bound) is { } frame)
        {
            if (frame.Kind == FrameKind.Close)
            {
                return frame.CloseCode;
            }
        }

        return null;
    }

    private static async Task<Frame> NextDataAsync(ILeafPeer peer)
    {
        while (await peer.ReceiveAsync().WaitAsync(Bound) is { } frame)
        {
            if (frame.IsData)
            {
                return frame;
            }
        }

        throw new InvalidOperationException("The connection ended before a data frame arrived.");
    }

    private sealed class FixedClock : TimeProvider
    {
        public override long GetTimestamp() => StampedAt;
    }
}
