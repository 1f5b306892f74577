using System.Globalization;
using Transport.IntegrationTests.Stack;
using Transport.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Transport.IntegrationTests.Handshakes;

/// <summary>
/// Every leaf's handshake classification against rejections served by WireMock.Net (the mock .NET
/// users already use for a venue's HTTP side; it serves no WebSockets, so these are rejection-only):
/// 401 and 403 are Auth and Permanent; 429 and 503 are Transient and carry Retry-After (seconds or an
/// HTTP date) on <see cref="TransportException.RetryAfter"/>, which the stack honours; 400, 404 and 410
/// (the request itself is wrong) are Permanent, 408 and 5xx Transient. No message carries the URI.
/// </summary>
public sealed class WireMockHandshakeTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private const string Secret = "SUPERSECRET-wiremock-77b0";

    private readonly WireMockServer _server = WireMockServer.Start();

    public void Dispose()
    {
        _server.Stop();
        _server.Dispose();
    }

    public static TheoryData<LeafKind, int, FailureClass> Rejections()
    {
        var data = new TheoryData<LeafKind, int, FailureClass>();
        foreach (var leaf in LeafKinds.Values)
        {
            data.Add(leaf, 401, FailureClass.Permanent);
            data.Add(leaf, 403, FailureClass.Permanent);
            data.Add(leaf, 400, FailureClass.Permanent);
            data.Add(leaf, 404, FailureClass.Permanent);
            data.Add(leaf, 410, FailureClass.Permanent);
            data.Add(leaf, 408, FailureClass.Transient);
            data.Add(leaf, 429, FailureClass.Transient);
            data.Add(leaf, 503, FailureClass.Transient);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Rejections))]
    public async Task Rejection_is_classified_by_its_status_with_no_Retry_After_unless_sent(LeafKind leaf, int status, FailureClass expected)
    {
        Reject(status);

        var error = await ConnectFailsAsync(leaf);

        Assert.Equal(status is 401 or 403 ? TransportErrorKind.Auth : TransportErrorKind.Connection, error.Kind);
        Assert.Equal(status, error.HttpStatus);
        Assert.Equal(expected, DefaultFailureClassifier.Instance.Classify(error));
        Assert.Null(error.RetryAfter);
        Assert.Contains($"HTTP {status}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_server.Port().ToString(CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        var request = Assert.Single(_server.LogEntries).RequestMessage;
        Assert.Equal("websocket", request.Headers!["Upgrade"].ToString(), ignoreCase: true);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task Retry_After_in_seconds_on_429_and_503_rides_on_the_error(LeafKind leaf)
    {
        Reject(429, "7");
        var throttled = await ConnectFailsAsync(leaf);
        _server.ResetMappings();
        Reject(503, "120");
        var unavailable = await ConnectFailsAsync(leaf);

        Assert.Equal(TimeSpan.FromSeconds(7), throttled.RetryAfter);
        Assert.Equal(FailureClass.Transient, DefaultFailureClassifier.Instance.Classify(throttled));
        Assert.Equal(TimeSpan.FromSeconds(120), unavailable.RetryAfter);
        Assert.Equal(FailureClass.Transient, DefaultFailureClassifier.Instance.Classify(unavailable));
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task Retry_After_as_an_HTTP_date_becomes_the_delay_until_then(LeafKind leaf)
    {
        // HTTP dates have a one-second resolution; the leaf converts with the wall clock when it sees the answer.
        Reject(429, DateTimeOffset.UtcNow.AddSeconds(30).ToString("r", CultureInfo.InvariantCulture));

        var error = await ConnectFailsAsync(leaf);

        Assert.Equal(429, error.HttpStatus);
        Assert.InRange(error.RetryAfter!.Value.TotalSeconds, 20, 31);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task Stack_waits_the_Retry_After_of_a_429_before_the_next_attempt(LeafKind leaf)
    {
        Reject(429, "1"); // the stack's backoff is 10-200 ms: only Retry-After explains a 1 s wait
        var clock = new TimerLog();
        await using var client = await StackClient.StartAsync(WebSocketUri(), o => SlowMachine(o), builder: b => b.UseLeafKind(leaf).WithTimeProvider(clock));

        var second = await client.WaitAsync(s => s.Attempts >= 2);
        var stamps = client.AttemptTimestamps;

        Assert.Equal(TimeSpan.FromSeconds(1), second.LastError?.RetryAfter);
        Assert.False(second.IsTerminal); // still trying: 429 is Transient
        // On the stack's own clock (see TimerLog): a 1 s timer was started after the first attempt and
        // fired before the second.
        Assert.True(
            clock.FiredBetween(TimeSpan.FromSeconds(1), stamps[0], stamps[1]) is not null,
            $"No 1 s wait between the attempts: {clock.Describe(stamps[0])}");
        await client.Connection.Control.ShutdownAsync().WaitAsync(Bound);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task Stack_rejected_with_403_ends_Unrecoverable_after_the_permanent_retries(LeafKind leaf)
    {
        Reject(403);
        await using var client = await StackClient.StartAsync(WebSocketUri(), o => SlowMachine(o).WithPermanentRetries(1), builder: b => b.UseLeafKind(leaf));

        var final = await client.WaitAsync(s => s.IsTerminal);

        Assert.Equal(ConnectionPhase.Unrecoverable, final.Phase);
        Assert.Equal(403, final.LastError?.HttpStatus);
        Assert.Equal(2, final.Attempts);
        Assert.Equal(2, _server.LogEntries.Count());
    }

    // A handshake on a loaded machine must not time out and add a Transient attempt to the count.
    private static TransportOptionsBuilder SlowMachine(TransportOptionsBuilder o) => o.WithConnectTimeout(TimeSpan.FromSeconds(30));

    private void Reject(int status, string? retryAfter = null)
    {
        var response = Response.Create().WithStatusCode(status).WithBody("refused");
        if (retryAfter is not null)
        {
            response = response.WithHeader("Retry-After", retryAfter);
        }

        _server.Given(Request.Create().WithPath("/ws").UsingGet()).RespondWith(response);
    }

    private Uri WebSocketUri() => new($"ws://127.0.0.1:{_server.Port()}/ws?token={Secret}");

    private async Task<TransportException> ConnectFailsAsync(LeafKind leaf) =>
        await Assert.ThrowsAsync<TransportException>(() =>
            LeafKinds.CreateConnector(leaf).ConnectAsync(new HandshakeRequest(WebSocketUri()), CancellationToken.None).AsTask().WaitAsync(Bound));
}

internal static class WireMockServerExtensions
{
    public static int Port(this WireMockServer server) => server.Ports[0];
}
