using Transport.Tests.Actor;
using Transport.Tests.Telemetry;

namespace Transport.Tests.Endpoints;

/// <summary>Endpoints per attempt: failover order, provider state, and redaction of path secrets.</summary>
public sealed class EndpointTests
{
    private const string ListenKey = "LK-9f8e7d6c5b4a39281706";

    [Fact]
    [Trait("Invariant", "Endpoint.E1")]
    public void E1_failover_walks_the_list_and_a_new_cycle_starts_at_the_primary()
    {
        var refused = TransportException.Connection("refused");
        var h = ActorHarness.Start(
            o => o.WithUri("ws://a.venue.test/ws").WithFailoverUris(new Uri("ws://b.venue.test/ws"), new Uri("ws://c.venue.test/ws")),
            c =>
            {
                c.FailNext(3, refused);
                c.Next.Succeeds();
            });

        h.AdvanceUntil(() => h.Now.IsUp, TimeSpan.FromMilliseconds(100));
        h.Socket.Disconnect();
        h.Pump();

        Assert.Equal(
            ["a", "b", "c", "a", "a"],
            h.Connector.Handshakes.Select(r => r.Endpoint.Host.Split('.')[0]));
        Assert.Equal("ws://a.venue.test/ws", h.Connection.Session?.Endpoint);
    }

    [Fact]
    [Trait("Invariant", "Endpoint.E1")]
    public void A_provider_stamps_a_resume_cursor_from_adapter_state_on_every_attempt()
    {
        long lastSeq = 0;
        var contexts = new List<EndpointContext>();
        var provider = EndpointProviders.From(context =>
        {
            contexts.Add(context);
            return new Uri($"ws://venue.test/ws?resume_from={lastSeq}");
        });
        var h = ActorHarness.Start(builder: b => b.WithEndpointProvider(provider));

        lastSeq = 42; // the adapter saw up to seq 42 before the drop
        h.Socket.Disconnect();
        h.Pump();

        Assert.Equal(["resume_from=0", "resume_from=42"], h.Connector.Handshakes.Select(r => r.Endpoint.Query.TrimStart('?')));
        Assert.Equal([false, true], contexts.Select(c => c.IsReconnect));
        Assert.Equal([0L, 1L], contexts.Select(c => c.Epoch));
    }

    [Fact]
    public void A_provider_that_throws_fails_the_attempt_transiently_without_its_message()
    {
        var calls = 0;
        var provider = EndpointProviders.From(_ => ++calls == 1 ? throw new InvalidOperationException("leaks " + ListenKey) : new Uri("ws://venue.test/ws"));
        var h = ActorHarness.Start(builder: b => b.WithEndpointProvider(provider));

        h.AdvanceUntil(() => h.Now.IsUp, TimeSpan.FromMilliseconds(100));

        Assert.Equal(2, calls);
        Assert.Equal(TransportErrorKind.Connection, h.Now.LastError?.Kind);
        Assert.DoesNotContain(ListenKey, h.Now.LastError!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Invariant", "Endpoint.E2")]
    [Trait("Invariant", "Redaction.R1")]
    public void E2_path_secret_never_appears_in_logs_spans_or_errors()
    {
        var name = "conn-" + Guid.NewGuid().ToString("N");
        var logs = new CapturingLoggerFactory();
        using var capture = new TelemetryCapture(name);
        var echo = new HttpRequestException($"GET ws://b.venue.test/ws/{ListenKey} failed");
        var provider = EndpointProviders.From(context => context.AttemptInCycle % 2 == 1
            ? new TransportEndpoint(new Uri($"ws://a.venue.test/user/{ListenKey}/stream"), [1])
            : new TransportEndpoint(new Uri($"ws://b.venue.test/ws/{ListenKey}"), [-1]));
        var h = ActorHarness.Start(
            o => o.WithName(name).WithUri($"ws://a.venue.test/user/{ListenKey}/stream").WithSensitivePathSegments(1).WithIdleTimeouts(TimeSpan.FromSeconds(2), null),
            c =>
            {
                c.Next.Fails(TransportException.Connection("refused", echo));
                c.Next.Fails(TransportException.HandshakeRejected(404, echo));
                c.Next.Succeeds();
            },
            builder: b => b.WithLoggerFactory(logs).WithMeter(capture.Meter).WithEndpointProvider(provider));

        h.AdvanceUntil(() => h.Now.IsUp, TimeSpan.FromMilliseconds(100));
        h.Advance(TimeSpan.FromSeconds(3)); // Stale
        h.Socket.Fail(TransportException.Connection("reset", echo));
        h.Pump();
        var lastError = h.Now.LastError;
        h.ShutdownAsync();

        var outputs = new List<string>();
        outputs.AddRange(logs.Entries.SelectMany(e => e.Renderings()));
        foreach (var span in capture.Stopped)
        {
            outputs.Add(span.DisplayName);
            outputs.Add(span.StatusDescription ?? string.Empty);
            outputs.AddRange(span.TagObjects.Select(t => $"{t.Key}={t.Value}"));
            outputs.AddRange(span.Events.SelectMany(e => e.Tags.Select(t => $"{e.Name} {t.Key}={t.Value}")));
        }

        outputs.AddRange(h.Connector.Handshakes.Select(r => r.ToString()));
        outputs.Add(h.Connection.ToString());
        outputs.Add(h.Now.ToString());
        outputs.Add(h.Connection.Session!.ToString());
        outputs.Add(h.Connection.Session.Endpoint);
        Assert.NotNull(lastError);
        outputs.Add(lastError.Message);
        outputs.Add(lastError.ToString());

        // The run really used the secret and really produced output.
        Assert.Contains(ListenKey, h.Connector.Handshakes[0].Uri.AbsolutePath, StringComparison.Ordinal);
        Assert.Contains(outputs, o => o.Contains("/user/***/stream", StringComparison.Ordinal));
        Assert.True(outputs.Count > 10);
        Assert.All(outputs, o => Assert.DoesNotContain(ListenKey, o, StringComparison.Ordinal));
    }
}
