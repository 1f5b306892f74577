using System.Net.WebSockets;
using System.Text;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Interop;

/// <summary>
/// The interop scenarios, run by each leaf against each independent server (python3-websockets, npm
/// ws): streaming, fragments, deflate, pings with a stalled consumer, close codes, invalid frames.
/// </summary>
public abstract class InteropScenarios
{
    /// <summary>The leaves every scenario runs with.</summary>
    public static TheoryData<string> Leaves => new() { "ClientWebSocket", "Pipelines" };

    protected abstract InteropKind Kind { get; }

    protected static async Task<ILeafConnection> ConnectAsync(string leaf, Uri uri, bool deflate = false, int maxMessageBytes = 16 * 1024 * 1024)
    {
        var handshake = new HandshakeRequest(uri);
        ILeafConnector connector = leaf == "Pipelines"
            ? new PipeWebSocketConnector(new PipeWebSocketConnectorOptions { DeflateOptions = deflate ? new WebSocketDeflateOptions() : null, MaxMessageBytes = maxMessageBytes })
            : new ClientWebSocketConnector(new ClientWebSocketConnectorOptions { DeflateOptions = deflate ? new WebSocketDeflateOptions() : null, MaxMessageBytes = maxMessageBytes });
        return await connector.ConnectAsync(handshake, CancellationToken.None).AsTask().WaitAsync(InteropServer.Bound);
    }

    protected static Task<Frame> ReceiveAsync(ILeafConnection connection) =>
        connection.Receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(InteropServer.Bound);

    protected async Task EchoWithDeflate(string leaf)
    {
        await using var server = await InteropServer.StartAsync(Kind);
        await using var connection = await ConnectAsync(leaf, server.Uri("/echo"), deflate: true);
        var text = string.Concat(Enumerable.Repeat("bid=101.25 ask=101.26 é✓ ", 2000));
        var binary = new byte[200_000];
        new Random(3).NextBytes(binary.AsSpan(0, 5000));

        for (var i = 0; i < 3; i++)
        {
            await connection.Sender.SendAsync(Frame.Text(text), CancellationToken.None);
            Assert.Equal(text, (await ReceiveAsync(connection)).GetText());
        }

        await connection.Sender.SendAsync(Frame.Binary(binary), CancellationToken.None);
        Assert.Equal(binary, (await ReceiveAsync(connection)).Payload.ToArray());

        var extensions = leaf == "Pipelines" ? connection.Handshake.Extensions : connection.Handshake.Extensions;
        Assert.Contains(extensions, e => e.Contains("permessage-deflate", StringComparison.Ordinal));
        await connection.Sender.CloseAsync(CloseCodes.NormalClosure, null, CancellationToken.None);
        Assert.Equal(FrameKind.Close, (await ReceiveAsync(connection)).Kind);
        await connection.DisposeAsync();
        Assert.Equal(CloseCodes.NormalClosure, await server.ClientCloseCodeAsync());
    }

    protected async Task StreamInOrderThenClose(string leaf)
    {
        const int count = 5000;
        await using var server = await InteropServer.StartAsync(Kind);
        await using var connection = await ConnectAsync(leaf, server.Uri($"/stream/{count}"));

        for (var i = 0; i < count; i++)
        {
            var frame = await ReceiveAsync(connection);
            Assert.Equal(i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture), frame.GetText());
            while (connection.Receiver.TryReceive(out var next))
            {
                Assert.Equal((++i).ToString("D6", System.Globalization.CultureInfo.InvariantCulture), next.GetText());
            }
        }

        Assert.Equal(Frame.Close(CloseCodes.NormalClosure, "done"), await ReceiveAsync(connection));
        await connection.DisposeAsync();
        Assert.Equal(CloseCodes.NormalClosure, await server.ClientCloseCodeAsync());
    }

    protected async Task FragmentsReassembled(string leaf)
    {
        await using var server = await InteropServer.StartAsync(Kind);
        await using var connection = await ConnectAsync(leaf, server.Uri("/fragments"));
        var expectedText = string.Concat(Enumerable.Range(0, 100_000 / 8).Select(i => i.ToString("D5", System.Globalization.CultureInfo.InvariantCulture) + "€"));
        var expectedBinary = Enumerable.Range(0, 256 * 400).Select(i => (byte)(i % 256)).ToArray();

        Assert.Equal(expectedText, (await ReceiveAsync(connection)).GetText());
        Assert.Equal(expectedBinary, (await ReceiveAsync(connection)).Payload.ToArray());
    }

    protected async Task PingsAnsweredWhileTheConsumerStalls(string leaf)
    {
        const int pings = 200;
        await using var server = await InteropServer.StartAsync(Kind);
        var builder = new WebSocketTransportBuilder()
            .Configure(o => o.WithUri(server.Uri($"/pings/{pings}")).WithReceiveRing(16, 64 * 1024));
        if (leaf == "Pipelines")
        {
            builder.UseLeaf(new PipeWebSocketConnector());
        }

        await using var connection = builder.Build().Start();

        // Nobody reads connection.Source: the ring overflows (drop-oldest) while the stack keeps
        // draining the socket, and every ping is answered (by ClientWebSocket, or through the pong lane).
        var line = await server.WaitForLineAsync(l => l.StartsWith("PONGS", StringComparison.Ordinal));

        Assert.Equal($"PONGS {pings}", line);
        Assert.True(connection.Lifecycle.Current.TotalLagged > 0, "the stalled consumer's ring dropped frames");
    }

    protected async Task CloseCodeReturnedAndEchoed(string leaf)
    {
        await using var server = await InteropServer.StartAsync(Kind);
        await using var connection = await ConnectAsync(leaf, server.Uri("/close/4001"));

        Assert.Equal(Frame.Close(4001, "bye"), await ReceiveAsync(connection));
        var after = await Assert.ThrowsAsync<TransportException>(() => ReceiveAsync(connection));
        Assert.Equal(TransportErrorKind.ClosedByPeer, after.Kind);
        await connection.DisposeAsync(); // a leaf that leaves the TCP connection to the server is done with it now
        Assert.Equal(4001, await server.ClientCloseCodeAsync());
    }

    protected async Task InvalidFramesCloseWithTheRightCode(string leaf, string path, int expected)
    {
        await using var server = await InteropServer.StartAsync(Kind);
        await using var connection = await ConnectAsync(leaf, server.Uri(path));

        var error = await Assert.ThrowsAsync<TransportException>(() => ReceiveAsync(connection));

        Assert.Equal(TransportErrorKind.Protocol, error.Kind);
        Assert.Equal(expected, error.CloseCode);
        await connection.DisposeAsync();
        Assert.Equal(expected, await server.ClientCloseCodeAsync());
    }
}

/// <summary>The scenarios against python3-websockets.</summary>
public sealed class PythonWebsocketsInteropTests : InteropScenarios
{
    protected override InteropKind Kind => InteropKind.PythonWebsockets;

    [InteropTheory(InteropKind.PythonWebsockets)]
    [MemberData(nameof(Leaves))]
    public Task Echo_with_permessage_deflate(string leaf) => EchoWithDeflate(leaf);

    [InteropTheory(InteropKind.PythonWebsockets)]
    [MemberData(nameof(Leaves))]
    public Task A_stream_arrives_in_order_then_the_close(string leaf) => StreamInOrderThenClose(leaf);

    [InteropTheory(InteropKind.PythonWebsockets)]
    [MemberData(nameof(Leaves))]
    public Task Fragmented_messages_are_reassembled(string leaf) => FragmentsReassembled(leaf);

    [InteropTheory(InteropKind.PythonWebsockets)]
    [MemberData(nameof(Leaves))]
    public Task Pings_are_answered_while_the_consumer_stalls(string leaf) => PingsAnsweredWhileTheConsumerStalls(leaf);

    [InteropTheory(InteropKind.PythonWebsockets)]
    [MemberData(nameof(Leaves))]
    public Task A_server_close_code_is_returned_and_echoed(string leaf) => CloseCodeReturnedAndEchoed(leaf);

    [InteropTheory(InteropKind.PythonWebsockets)]
    [MemberData(nameof(Leaves))]
    public Task Invalid_utf8_closes_1007(string leaf) => InvalidFramesCloseWithTheRightCode(leaf, "/invalid-utf8", CloseCodes.InvalidPayload);

    [InteropTheory(InteropKind.PythonWebsockets)]
    [MemberData(nameof(Leaves))]
    public Task A_reserved_opcode_closes_1002(string leaf) => InvalidFramesCloseWithTheRightCode(leaf, "/reserved-opcode", CloseCodes.ProtocolError);
}

/// <summary>The scenarios against the npm ws package.</summary>
public sealed class NodeWsInteropTests : InteropScenarios
{
    protected override InteropKind Kind => InteropKind.NodeWs;

    [InteropTheory(InteropKind.NodeWs)]
    [MemberData(nameof(Leaves))]
    public Task Echo_with_permessage_deflate(string leaf) => EchoWithDeflate(leaf);

    [InteropTheory(InteropKind.NodeWs)]
    [MemberData(nameof(Leaves))]
    public Task A_stream_arrives_in_order_then_the_close(string leaf) => StreamInOrderThenClose(leaf);

    [InteropTheory(InteropKind.NodeWs)]
    [MemberData(nameof(Leaves))]
    public Task Fragmented_messages_are_reassembled(string leaf) => FragmentsReassembled(leaf);

    [InteropTheory(InteropKind.NodeWs)]
    [MemberData(nameof(Leaves))]
    public Task Pings_are_answered_while_the_consumer_stalls(string leaf) => PingsAnsweredWhileTheConsumerStalls(leaf);

    [InteropTheory(InteropKind.NodeWs)]
    [MemberData(nameof(Leaves))]
    public Task A_server_close_code_is_returned_and_echoed(string leaf) => CloseCodeReturnedAndEchoed(leaf);

    [InteropTheory(InteropKind.NodeWs)]
    [MemberData(nameof(Leaves))]
    public Task Invalid_utf8_closes_1007(string leaf) => InvalidFramesCloseWithTheRightCode(leaf, "/invalid-utf8", CloseCodes.InvalidPayload);

    [InteropTheory(InteropKind.NodeWs)]
    [MemberData(nameof(Leaves))]
    public Task A_reserved_opcode_closes_1002(string leaf) => InvalidFramesCloseWithTheRightCode(leaf, "/reserved-opcode", CloseCodes.ProtocolError);
}
