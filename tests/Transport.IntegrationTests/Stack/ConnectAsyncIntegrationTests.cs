using System.Net;
using System.Net.Sockets;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Stack;

/// <summary>
/// ConnectAsync over real sockets (issue 23): it returns a connection that is up, with its session's
/// facts; a mistyped path fails it after the permanent retries with "path not found on the server"; a
/// refused port fails its bounded form with a Timeout that names the last error.
/// </summary>
public sealed class ConnectAsyncIntegrationTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task ConnectAsync_returns_a_connection_that_is_up_with_its_session(LeafKind leaf)
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.SendAsync("hello");
            await s.WaitForCloseAsync();
        });

        await using var connection = await Connector(server.WebSocketUri, leaf).ConnectAsync().AsTask().WaitAsync(Bound);

        Assert.Equal(ConnectionPhase.Connected, connection.Lifecycle.Current.Phase);
        Assert.NotNull(connection.Session);
        Assert.Equal(0, connection.Session!.Epoch);
        Assert.True(connection.Source.TryRead(out _) || await connection.Source.WaitToReadAsync().AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task A_404_fails_ConnectAsync_after_the_permanent_retries_saying_path_not_found()
    {
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(404));

        var error = await Assert.ThrowsAsync<TransportException>(() => Connector(server.WebSocketUri, LeafKind.Pipelines).ConnectAsync().AsTask().WaitAsync(Bound));

        Assert.Equal(404, error.HttpStatus);
        Assert.Equal(3, server.ConnectionCount); // the first attempt and PermanentRetries (2)
        Assert.Contains("ended Unrecoverable before it was up (phase Unrecoverable, 3 attempts)", error.Message, StringComparison.Ordinal);
        Assert.Contains("HTTP 404: path not found on the server", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(server.WebSocketUri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_port_fails_the_bounded_ConnectAsync_with_a_Timeout_naming_the_last_error()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now: connection refused

        var error = await Assert.ThrowsAsync<TransportException>(() =>
            Connector(new Uri($"ws://127.0.0.1:{port}/ws"), LeafKind.Pipelines).ConnectAsync(TimeSpan.FromSeconds(2)).AsTask().WaitAsync(Bound));

        Assert.Equal(TransportErrorKind.Timeout, error.Kind);
        Assert.StartsWith("Connection connect-it was not up within 00:00:02 (phase Connecting, ", error.Message, StringComparison.Ordinal);
        Assert.Contains("Last error: Connection: The WebSocket connect failed", error.Message, StringComparison.Ordinal);
        Assert.Equal(TransportErrorKind.Connection, Assert.IsType<TransportException>(error.InnerException).Kind);
    }

    private static ReconnectingConnector Connector(Uri uri, LeafKind leaf) =>
        new WebSocketTransportBuilder()
            .Configure(o => o.WithName("connect-it").WithUri(uri).WithLeafKind(leaf).WithBackoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(100)))
            .Build();
}
