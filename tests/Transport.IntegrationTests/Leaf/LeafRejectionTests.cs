using Transport.Testing;
using Transport.WebSockets;
using static Transport.IntegrationTests.Leaf.LeafTestKit;

namespace Transport.IntegrationTests.Leaf;

/// <summary>
/// Handshake refusals over Kestrel, one contract for every built-in leaf (<see cref="LeafKinds"/>): the
/// status maps into the same taxonomy (401/403 Auth, the rest Connection), a Retry-After rides on the
/// error through <see cref="RetryAfterHeader"/>, and no credential reaches the message; the stack then
/// treats 401 as Permanent and 429's Retry-After as the next delay, whichever leaf is underneath.
/// </summary>
public sealed class LeafRejectionTests
{
    private const string Secret = "SUPERSECRET-rej-5d1c";

    public static TheoryData<LeafKind, int, string?, TransportErrorKind, double?> Refusals
    {
        get
        {
            var rows = new (int Status, string? RetryAfter, TransportErrorKind Kind, double? Seconds)[]
            {
                (401, null, TransportErrorKind.Auth, null),
                (403, null, TransportErrorKind.Auth, null),
                (404, null, TransportErrorKind.Connection, null),
                (429, "7", TransportErrorKind.Connection, 7),
                (503, "120", TransportErrorKind.Connection, 120),
                (503, "soon", TransportErrorKind.Connection, null), // unparseable: ignored, never a failure of its own
                (500, null, TransportErrorKind.Connection, null),
            };
            var data = new TheoryData<LeafKind, int, string?, TransportErrorKind, double?>();
            foreach (var leaf in LeafKinds.Values)
            {
                foreach (var row in rows)
                {
                    data.Add(leaf, row.Status, row.RetryAfter, row.Kind, row.Seconds);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task A_refused_handshake_maps_the_same_in_every_leaf(LeafKind leaf, int status, string? retryAfter, TransportErrorKind kind, double? seconds)
    {
        await using var server = await LoopbackServer.StartAsync(s => retryAfter is null ? s.RejectAsync(status) : s.RejectAsync(status, ("Retry-After", retryAfter)));
        var handshake = Handshake(server);
        handshake.Query["token"] = Secret;
        handshake.Headers["Authorization"] = "Bearer " + Secret;

        var error = await Assert.ThrowsAsync<TransportException>(() =>
            LeafKinds.CreateConnector(leaf).ConnectAsync(handshake, CancellationToken.None).AsTask().WaitAsync(Bound));

        Assert.Equal(kind, error.Kind);
        Assert.Equal(status, error.HttpStatus);
        Assert.Equal(seconds is null ? null : TimeSpan.FromSeconds(seconds.Value), error.RetryAfter);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task A_Retry_After_given_as_an_HTTP_date_is_read_by_every_leaf(LeafKind leaf)
    {
        var at = DateTimeOffset.UtcNow.AddMinutes(10);
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(503, ("Retry-After", at.ToString("r", System.Globalization.CultureInfo.InvariantCulture))));

        var error = await Assert.ThrowsAsync<TransportException>(() =>
            LeafKinds.CreateConnector(leaf).ConnectAsync(Handshake(server), CancellationToken.None).AsTask().WaitAsync(Bound));

        // The date has a 1 s resolution and the answer takes a moment: about ten minutes, never more.
        Assert.InRange(error.RetryAfter!.Value, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task An_HTTP_date_Retry_After_is_read_against_the_leafs_own_clock(LeafKind leaf)
    {
        // The stack's clock, not the machine's: a venue's date 90 s after the injected "now" (years away
        // from the real one) is a 90 s wait, so a test on a fake clock and a host whose clock is stepped
        // see the same delay.
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2031, 3, 4, 5, 6, 7, TimeSpan.Zero));
        var at = clock.GetUtcNow().AddSeconds(90);
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(503, ("Retry-After", at.ToString("r", System.Globalization.CultureInfo.InvariantCulture))));

        var error = await Assert.ThrowsAsync<TransportException>(() =>
            LeafKinds.CreateConnector(leaf, time: clock).ConnectAsync(Handshake(server), CancellationToken.None).AsTask().WaitAsync(Bound));

        Assert.Equal(TimeSpan.FromSeconds(90), error.RetryAfter);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task The_stack_treats_401_as_Permanent_over_every_leaf(LeafKind leaf)
    {
        await using var server = await LoopbackServer.StartAsync(s => s.RejectAsync(401));
        var connector = new WebSocketTransportBuilder()
            .Configure(o => o
                .WithUri(server.WebSocketUri)
                .WithBackoff(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(20), useJitter: false)
                .WithLeaf(leaf))
            .Build();
        await using var connection = connector.Start();

        var final = await connection.Lifecycle.WaitAsync(s => s.IsTerminal).AsTask().WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(ConnectionPhase.Unrecoverable, final.Phase);
        Assert.Equal(TransportErrorKind.Auth, final.LastError?.Kind);
        Assert.Equal(401, final.LastError?.HttpStatus);
        Assert.Equal(3, final.Attempts); // the first attempt and the two default Permanent retries
        Assert.Equal(3, server.ConnectionCount);
    }
}
