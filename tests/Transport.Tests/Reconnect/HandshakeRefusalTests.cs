using Transport.Tests.Actor;

namespace Transport.Tests.Reconnect;

/// <summary>
/// Handshake refusals other than auth: a request the server will never accept as sent (400 bad
/// request, 404 path not found, 410 gone) counts toward the permanent budget like 401/403 and ends
/// Unrecoverable with a plain message; the server's own trouble (408, 429, 5xx) stays Transient.
/// </summary>
public sealed class HandshakeRefusalTests
{
    public static TheoryData<int, FailureClass, TransportErrorKind> Statuses() => new()
    {
        { 400, FailureClass.Permanent, TransportErrorKind.Connection },
        { 401, FailureClass.Permanent, TransportErrorKind.Auth },
        { 403, FailureClass.Permanent, TransportErrorKind.Auth },
        { 404, FailureClass.Permanent, TransportErrorKind.Connection },
        { 410, FailureClass.Permanent, TransportErrorKind.Connection },
        { 405, FailureClass.Transient, TransportErrorKind.Connection },
        { 408, FailureClass.Transient, TransportErrorKind.Connection },
        { 426, FailureClass.Transient, TransportErrorKind.Connection },
        { 429, FailureClass.Transient, TransportErrorKind.Connection },
        { 500, FailureClass.Transient, TransportErrorKind.Connection },
        { 502, FailureClass.Transient, TransportErrorKind.Connection },
        { 503, FailureClass.Transient, TransportErrorKind.Connection },
        { 504, FailureClass.Transient, TransportErrorKind.Connection },
    };

    [Theory]
    [MemberData(nameof(Statuses))]
    public void The_default_classifier_sorts_refusals_by_status(int status, FailureClass expected, TransportErrorKind kind)
    {
        var error = TransportException.HandshakeRejected(status);

        Assert.Equal(kind, error.Kind);
        Assert.Equal(status, error.HttpStatus);
        Assert.Equal(expected, DefaultFailureClassifier.Instance.Classify(error));
        Assert.Equal(expected == FailureClass.Permanent, DefaultFailureClassifier.IsPermanentRefusal(status));
    }

    [Theory]
    [InlineData(400, "HTTP 400: bad request (the server refused the upgrade request as sent; check the URI's query, the headers and the subprotocols).")]
    [InlineData(404, "HTTP 404: path not found on the server (check the URI's path).")]
    [InlineData(410, "HTTP 410: gone (the endpoint no longer exists on the server; check the URI).")]
    [InlineData(503, "HTTP 503.")]
    public void The_message_says_what_the_refusal_means_and_carries_no_URI(int status, string ending)
    {
        var echo = new HttpRequestException("GET wss://venue.test/ws/SECRET-listen-key returned 404");

        var error = TransportException.HandshakeRejected(status, echo);

        Assert.Equal("The server rejected the handshake with " + ending, error.Message);
        Assert.DoesNotContain("SECRET", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(404)]
    [InlineData(410)]
    public void A_refused_path_ends_Unrecoverable_after_the_permanent_retries_like_401(int status)
    {
        var h = ActorHarness.Start(
            o => o.WithPermanentRetries(2),
            c => c.FailNext(10, TransportException.HandshakeRejected(status)));

        h.AdvanceUntil(() => h.Now.IsTerminal, TimeSpan.FromSeconds(1));

        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
        Assert.Equal(3, h.Now.Attempts); // the first attempt and two retries
        Assert.Equal(status, h.Now.LastError?.HttpStatus);
        h.Advance(TimeSpan.FromHours(1));
        Assert.Equal(3, h.Connector.Attempts);
    }

    [Theory]
    [InlineData(408)]
    [InlineData(429)]
    [InlineData(500)]
    [InlineData(503)]
    public void The_servers_trouble_is_retried_past_the_permanent_budget(int status)
    {
        var h = ActorHarness.Start(
            o => o.WithPermanentRetries(2).WithBackoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)),
            c =>
            {
                c.FailNext(10, TransportException.HandshakeRejected(status));
                c.Next.Succeeds();
            });

        h.AdvanceUntil(() => h.Now.IsUp, TimeSpan.FromMilliseconds(100));

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(11, h.Connector.Attempts);
    }
}
