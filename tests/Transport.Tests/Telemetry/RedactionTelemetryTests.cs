using System.Diagnostics;
using Transport.WebSockets;

namespace Transport.Tests.Telemetry;

/// <summary>
/// Credentials stamped on the handshake (bearer token, cookie, X-MBX-APIKEY, token= and listenKey=
/// query values, a listenKey in the configured URI) never reach a log line, a span, an exception
/// message or a ToString(), through a whole life with failures.
/// </summary>
public sealed class RedactionTelemetryTests
{
    private const string Bearer = "SECRET-BEARER-7f3a";
    private const string CookieValue = "SECRET-COOKIE-91bc";
    private const string ApiKey = "SECRET-APIKEY-55de";
    private const string QueryToken = "SECRET-QTOKEN-0a1b";
    private const string ListenKey = "SECRET-LISTENKEY-c2d3";
    private const string UriListenKey = "SECRET-URIKEY-e4f5";

    private static readonly string[] Secrets = [Bearer, CookieValue, ApiKey, QueryToken, ListenKey, UriListenKey];

    [Fact]
    [Trait("Invariant", "Telemetry.T4")]
    public void No_secret_appears_in_logs_spans_errors_or_ToString()
    {
        var auth = AuthSources.From((request, _, _) =>
        {
            request.Headers["Authorization"] = "Bearer " + Bearer;
            request.Headers["X-MBX-APIKEY"] = ApiKey;
            request.Cookies["session"] = CookieValue;
            request.Query["token"] = QueryToken;
            request.Query["listenKey"] = ListenKey;
            return ValueTask.CompletedTask;
        });

        // A platform exception that echoes the full URI, as HttpClient's sometimes do.
        var echo = new HttpRequestException($"GET ws://venue.test/ws?listenKey={UriListenKey}&token={QueryToken} failed; Authorization: Bearer {Bearer}");
        using var h = TelemetryHarness.Start(
            o => o.WithIdleTimeouts(TimeSpan.FromSeconds(5), null),
            c =>
            {
                c.Next.Fails(TransportException.HandshakeRejected(401, echo));
                c.Next.Fails(TransportException.Connection("refused", echo));
                c.Next.Succeeds();
            },
            auth,
            uri: $"ws://venue.test/ws?listenKey={UriListenKey}");

        h.Advance(TimeSpan.FromSeconds(1));
        h.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        h.Socket.DeliverText("data");
        h.Advance(TimeSpan.FromSeconds(5)); // Stale
        h.Socket.DeliverClose(4000, "bye " + QueryToken);
        h.Pump();
        h.Socket.Fail(TransportException.Connection("reset", echo));
        h.Pump();
        var lastError = h.Now.LastError;
        h.Connection.Control.ReconnectTrigger.ForceReconnect("rotate");
        h.Pump();
        h.Shutdown();

        var outputs = new List<string>();
        outputs.AddRange(h.Logs.Entries.SelectMany(e => e.Renderings()));
        foreach (var span in h.Capture.Stopped)
        {
            outputs.Add(span.DisplayName);
            outputs.Add(span.StatusDescription ?? string.Empty);
            outputs.AddRange(span.TagObjects.Select(t => $"{t.Key}={t.Value}"));
            outputs.AddRange(span.Events.SelectMany(e => e.Tags.Select(t => $"{e.Name} {t.Key}={t.Value}")));
        }

        outputs.AddRange(h.Connector.Handshakes.Select(r => r.ToString()));
        outputs.Add(h.Connection.ToString());
        outputs.Add(h.Now.ToString());
        Assert.NotNull(lastError);
        outputs.Add(lastError.Message);
        outputs.Add(lastError.ToString());

        // The run really carried the secrets and really produced output.
        Assert.Equal("Bearer " + Bearer, h.Connector.Handshakes[0].Headers["Authorization"]);
        Assert.Contains(UriListenKey, h.Connector.Handshakes[0].Uri.Query, StringComparison.Ordinal);
        Assert.Contains(h.Logs.Entries, e => e.EventId.Name == "Attempt" && e.Message.Contains("X-MBX-APIKEY: ***", StringComparison.Ordinal) && e.Message.Contains("listenKey=***", StringComparison.Ordinal));
        Assert.NotEmpty(h.Capture.Stopped); // one span per down-cycle
        Assert.True(outputs.Count > 50, $"only {outputs.Count} outputs captured");

        foreach (var output in outputs)
        {
            foreach (var secret in Secrets)
            {
                Assert.DoesNotContain(secret, output, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Handshake_ToString_masks_every_credential_kind()
    {
        var request = new HandshakeRequest(new Uri($"ws://venue.test/ws?listenKey={UriListenKey}"));
        request.Headers["Authorization"] = "Bearer " + Bearer;
        request.Headers["X-MBX-APIKEY"] = ApiKey;
        request.Cookies["session"] = CookieValue;
        request.Query["token"] = QueryToken;
        request.Query["listenKey"] = ListenKey;

        var text = request.ToString();

        Assert.All(Secrets, s => Assert.DoesNotContain(s, text, StringComparison.Ordinal));
        Assert.Contains("token=***", text, StringComparison.Ordinal);
        Assert.Contains("session=***", text, StringComparison.Ordinal);
        Assert.Contains(QueryToken, request.BuildUri().ToString(), StringComparison.Ordinal); // the real URI still carries it
    }
}
