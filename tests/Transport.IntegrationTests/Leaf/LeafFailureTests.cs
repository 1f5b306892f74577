using Transport.Testing;
using Transport.WebSockets;
using static Transport.IntegrationTests.Leaf.LeafTestKit;

namespace Transport.IntegrationTests.Leaf;

/// <summary>The ClientWebSocket leaf's connect-failure path: Retry-After, configuration errors.</summary>
public sealed class LeafFailureTests
{
    private const string Secret = "SUPERSECRET-91c2";

    [Theory]
    [InlineData(429, "2", 2.0)]
    [InlineData(503, "120", 120.0)]
    public async Task Rejected_handshake_carries_the_status_and_Retry_After(int status, string header, double seconds)
    {
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(status, ("Retry-After", header)));

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(server));

        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Equal(status, error.HttpStatus);
        Assert.Equal(TimeSpan.FromSeconds(seconds), error.RetryAfter);
    }

    [Fact]
    public async Task Retry_After_as_an_http_date_becomes_a_delay()
    {
        var at = DateTimeOffset.UtcNow.AddSeconds(30);
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(503, ("Retry-After", at.ToString("r"))));

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(server));

        Assert.InRange(error.RetryAfter!.Value.TotalSeconds, 20, 31);
    }

    [Fact]
    public async Task Rejection_without_Retry_After_has_none()
    {
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(503));

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(server));

        Assert.Equal(503, error.HttpStatus);
        Assert.Null(error.RetryAfter);
    }

    [Fact]
    public async Task Invalid_header_reaching_the_leaf_is_a_configuration_error_that_never_shows_the_value()
    {
        await using var server = await LoopbackServer.StartAsync(s => s.AcceptAsync());
        var handshake = Handshake(server);
        handshake.Headers["X-Api-Key"] = Secret + "\r\nInjected: yes"; // a value no HTTP stack may send

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(server, handshake: handshake));

        Assert.Equal(TransportErrorKind.Configuration, error.Kind);
        Assert.Equal(FailureClass.Permanent, DefaultFailureClassifier.Instance.Classify(error));
        Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, server.ConnectionCount);
    }

    [Fact]
    public async Task Throwing_ConfigureSocket_callback_is_a_configuration_error()
    {
        await using var server = await LoopbackServer.StartAsync(s => s.AcceptAsync());
        var options = new ClientWebSocketConnectorOptions { ConfigureSocket = _ => throw new InvalidOperationException("bad proxy setting") };

        var error = await Assert.ThrowsAsync<TransportException>(() => ConnectAsync(server, options));

        Assert.Equal(TransportErrorKind.Configuration, error.Kind);
        Assert.Contains("InvalidOperationException", error.Message, StringComparison.Ordinal);
    }
}
