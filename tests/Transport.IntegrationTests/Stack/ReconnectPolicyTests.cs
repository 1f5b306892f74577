using System.Diagnostics;
using Transport.Testing;

namespace Transport.IntegrationTests.Stack;

/// <summary>
/// Issue #12 over real loopback sockets against Kestrel: a server that accepts and then closes
/// every session is not hammered, and a 429's Retry-After is honoured.
/// </summary>
public sealed class ReconnectPolicyTests
{
    private static readonly IFailureClassifier PolicyCloseIsPermanent =
        DefaultFailureClassifier.RefinedBy(e => e.CloseCode == CloseCodes.PolicyViolation ? FailureClass.Permanent : null);

    private static async Task AcceptAndCloseAsync(ServerSession session, int code)
    {
        await session.AcceptAsync();
        await session.CloseAsync(code, "bye");
    }

    [Fact]
    public async Task Server_that_accepts_and_closes_with_1008_ends_Unrecoverable_after_the_permanent_retries()
    {
        await using var server = await LoopbackServer.StartAsync(s => AcceptAndCloseAsync(s, CloseCodes.PolicyViolation));
        await using var client = await StackClient.StartAsync(
            server.WebSocketUri,
            o => o.WithPermanentRetries(2),
            builder: b => b.WithClassifier(PolicyCloseIsPermanent));

        var final = await client.WaitAsync(s => s.IsTerminal);

        Assert.Equal(ConnectionPhase.Unrecoverable, final.Phase);
        Assert.Equal(TransportErrorKind.ClosedByPeer, final.LastError?.Kind);
        Assert.Equal(CloseCodes.PolicyViolation, final.LastError?.CloseCode);
        Assert.Equal(3, final.Attempts); // every handshake succeeded; the sessions were short
        Assert.Equal(3, client.AttemptTimestamps.Count);
        Assert.Equal(3, server.ConnectionCount);
        Assert.InRange(final.Epoch, 0, 2); // a session closed before its up-edge does not advance the epoch (Init.I2)
        await client.Changed.WaitUntilAsync(() => client.ConsumerEnded, StackClient.Bound, "source ended");
        Assert.Equal(CloseCodes.PolicyViolation, Assert.IsType<TransportException>(client.SourceError).CloseCode);
        Assert.Empty(server.HandlerErrors);
    }

    [Fact]
    public async Task Server_that_accepts_and_closes_with_1011_is_backed_off_up_to_MaxBackoff()
    {
        // Backoff 10 ms doubling to 200 ms (StackClient's defaults), no jitter: 10, 20, 40, 80, 160, 200, 200 ...
        await using var server = await LoopbackServer.StartAsync(s => AcceptAndCloseAsync(s, CloseCodes.InternalError));
        await using var client = await StackClient.StartAsync(server.WebSocketUri);

        await client.WaitAsync(s => s.Attempts >= 10);

        var stamps = client.AttemptTimestamps.Select(t => t * 1000.0 / Stopwatch.Frequency).ToArray();
        var gaps = stamps.Zip(stamps.Skip(1), (a, b) => b - a).ToArray();
        double[] backoff = [10, 20, 40, 80, 160, 200, 200, 200, 200];
        for (var i = 0; i < backoff.Length; i++)
        {
            // Each gap is the session plus the backoff. The stamps are taken where the client observes
            // each attempt, so one stamp can lag its timer by a few ms under load: allow 10% (at least
            // 2 ms). A stack without backoff shows gaps of ~1 ms here, so growth is still proven.
            Assert.True(gaps[i] >= backoff[i] - Math.Max(2, backoff[i] * 0.1), $"Gap {i} was {gaps[i]:0.0} ms, below the {backoff[i]} ms backoff; gaps: {string.Join(", ", gaps.Select(g => g.ToString("0")))}.");
        }

        Assert.Equal(ConnectionPhase.Reconnecting, (await client.WaitAsync(s => !s.IsUp)).Phase);
        await client.ShutdownAsync();
    }

    [Fact]
    public async Task Handshake_429_with_Retry_After_2_gets_no_attempt_within_2_seconds()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            if (s.Number == 1)
            {
                await s.RejectAsync(429, ("Retry-After", "2"));
                return;
            }

            await s.AcceptAsync();
            await s.WaitForCloseAsync();
        });
        await using var client = await StackClient.StartAsync(server.WebSocketUri);

        // The rejection is published (and stays) for the two seconds before the next attempt.
        var rejected = await client.WaitAsync(s => s.LastError?.HttpStatus == 429);
        Assert.Equal(TimeSpan.FromSeconds(2), rejected.LastError?.RetryAfter);
        var up = await client.WaitUpAsync(0);

        Assert.Equal(2, up.Attempts);
        var stamps = client.AttemptTimestamps;
        var gap = Stopwatch.GetElapsedTime(stamps[0], stamps[1]);
        Assert.True(gap >= TimeSpan.FromSeconds(2) - TimeSpan.FromMilliseconds(2), $"The second attempt came {gap.TotalMilliseconds:0} ms after the 429.");
        await client.ShutdownAsync();
    }
}
