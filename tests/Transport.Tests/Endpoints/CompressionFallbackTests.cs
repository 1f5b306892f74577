using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Transport.Tests.Actor;
using Transport.Tests.Telemetry;

namespace Transport.Tests.Endpoints;

/// <summary>
/// The permessage-deflate fallback (docs/adr/0019), over the scripted connector: a leaf reports
/// <see cref="TransportErrorKind.Compression"/>, the stack drops the deflate offer for every later
/// attempt of the connection and says so in the error and the log.
/// </summary>
public sealed class CompressionFallbackTests
{
    // What the ClientWebSocket leaf reports for a final-block message (WebSocketFailures.MapInflateFailure).
    private static TransportException LeafCompressionFailure() =>
        TransportException.Compression(
            "permessage-deflate failed: the server ended a compressed message with a final (BFINAL=1) deflate block.",
            CloseCodes.Abnormal,
            new WebSocketException("Data received after the DEFLATE stream was terminated with BFINAL."));

    [Fact]
    [Trait("Invariant", "Fallback.F1")]
    public void F1_a_compression_failure_turns_the_offer_off_for_every_later_attempt()
    {
        var h = ActorHarness.Start();
        h.Socket.DeliverText("a");
        h.Pump();

        h.Socket.Fail(LeafCompressionFailure());
        h.Pump(); // StableAfter is zero in the harness: the reconnect is immediate
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        h.Socket.DeliverText("b");
        h.Pump();
        h.Socket.Disconnect(); // a plain drop later on: the offer stays off
        h.Pump();
        h.Socket.DeliverText("c");
        h.Pump();

        Assert.Equal([true, false, false], h.Connector.Handshakes.Select(r => r.OfferCompression));
        Assert.Equal(["a", "b", "c"], h.Drain().Select(f => f.GetText()));
        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase);
        Assert.Equal(2, h.Now.Epoch);
        Assert.Contains("compression[off]", h.Connector.Handshakes[1].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Invariant", "Fallback.F1")]
    public void F1_a_compression_failure_during_the_handshake_turns_the_offer_off_for_the_next_attempt()
    {
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Fails(LeafCompressionFailure());
            c.Next.Succeeds();
        });
        Assert.Equal(TransportErrorKind.Compression, h.Now.LastError?.Kind);

        h.Advance(TimeSpan.FromSeconds(1)); // the first backoff

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal([true, false], h.Connector.Handshakes.Select(r => r.OfferCompression));
    }

    [Fact]
    [Trait("Invariant", "Fallback.F1")]
    public void F1_the_offer_is_per_connection_a_new_connection_offers_again()
    {
        var first = ActorHarness.Start();
        first.Socket.Fail(LeafCompressionFailure());
        first.Pump();
        var second = ActorHarness.Start();

        Assert.False(first.Connector.Handshakes[^1].OfferCompression);
        Assert.True(Assert.Single(second.Connector.Handshakes).OfferCompression);
    }

    [Fact]
    [Trait("Invariant", "Fallback.F2")]
    public void F2_the_reported_error_and_the_log_say_compression_is_off()
    {
        var logs = new CapturingLoggerFactory();
        var h = ActorHarness.Start(builder: b => b.WithLoggerFactory(logs));
        var leafError = LeafCompressionFailure();

        h.Socket.Fail(leafError);
        h.Pump();
        var reported = h.Now.LastError;
        h.Socket.Fail(LeafCompressionFailure()); // a second one (the offer is already off) changes nothing more
        h.Pump();

        Assert.NotNull(reported);
        Assert.Equal(TransportErrorKind.Compression, reported.Kind);
        Assert.Equal(CloseCodes.Abnormal, reported.CloseCode);
        Assert.Same(leafError.InnerException, reported.InnerException);
        Assert.StartsWith(leafError.Message, reported.Message, StringComparison.Ordinal);
        Assert.Contains("Compression is off for this connection from now on", reported.Message, StringComparison.Ordinal);
        Assert.Equal(FailureClass.Transient, DefaultFailureClassifier.Instance.Classify(reported));
        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 60);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("compression is off for this connection from now on", warning.Message, StringComparison.Ordinal);
        Assert.Contains("Compression", warning.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Compression is off", h.Now.LastError!.Message, StringComparison.Ordinal); // the second error, as the leaf reported it
        Assert.Equal([true, false, false], h.Connector.Handshakes.Select(r => r.OfferCompression));
    }

    [Fact]
    [Trait("Invariant", "Fallback.F3")]
    public void F3_other_failures_leave_the_offer_on()
    {
        var h = ActorHarness.Start(script: c =>
        {
            c.Next.Succeeds();
            c.Next.Fails(TransportException.HandshakeRejected(503));
            c.Next.Succeeds();
            c.Next.Succeeds();
            c.Next.Succeeds();
        });

        h.Socket.Fail(new TransportException(TransportErrorKind.Connection, "reset", closeCode: CloseCodes.Abnormal));
        h.Pump(); // the next attempt is answered 503
        Assert.False(h.Now.IsUp);
        h.AdvanceUntil(() => h.Now.IsUp, TimeSpan.FromMilliseconds(100));
        h.Socket.Fail(TransportException.Protocol("bad frame"));
        h.Pump();
        h.Socket.Fail(TransportException.MessageTooBig(1024));
        h.Pump();

        Assert.Equal(5, h.Connector.Handshakes.Count);
        Assert.All(h.Connector.Handshakes, r => Assert.True(r.OfferCompression));
    }
}
