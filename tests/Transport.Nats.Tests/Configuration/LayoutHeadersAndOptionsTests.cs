using System.Text;
using Microsoft.Extensions.Configuration;
using NATS.Client.Core;
using Transport.Nats.Feeds;
using Transport.Nats.Relay;

namespace Transport.Nats.Tests.Configuration;

public sealed class LayoutHeadersAndOptionsTests
{
    [Fact]
    public void Layout_names_subjects_stream_and_keys_and_sanitizes_keys()
    {
        var layout = new NatsFeedLayout("binance-md");
        Assert.Equal("transport.binance-md.frames", layout.FrameSubject);
        Assert.Equal("TRANSPORT_binance-md", layout.StreamName);
        Assert.Equal(["transport.binance-md.frames", "transport.binance-md.frames.>"], layout.StreamSubjects);
        Assert.Equal("binance-md.lifecycle", layout.LifecycleKey);
        Assert.Equal("binance-md.lease", layout.LeaseKey);
        Assert.Equal("transport.binance-md.frames.BTC-USD", layout.SubjectFor("BTC-USD"));
        Assert.Equal("transport.binance-md.frames.btcusdt@trade", layout.SubjectFor("btcusdt@trade"));
        Assert.Equal("transport.binance-md.frames.a_b._._", layout.SubjectFor("a b.*.>"));
        Assert.Equal("transport.binance-md.frames._.x._", layout.SubjectFor(".x."));
        Assert.Equal(layout.FrameSubject, layout.SubjectFor(null));
    }

    [Theory]
    [InlineData("", "Feed")]
    [InlineData("has.dot", "Feed")]
    [InlineData("has space", "Feed")]
    [InlineData("a>", "Feed")]
    public void Layout_rejects_bad_feed_names_naming_the_field(string feed, string field)
    {
        var error = Assert.Throws<ArgumentException>(() => new NatsFeedLayout(feed));
        Assert.StartsWith(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Headers_round_trip_and_stored_blocks_parse()
    {
        var values = new FrameHeaderValues(FrameKind.Binary, 7, 1_765_000_000_000_000, 42, 3, 2);
        var headers = FrameHeaderValues.ToHeaders(values, "feed");
        Assert.Equal("feed-2-42", headers[RelayHeaders.MessageId].ToString());
        Assert.True(FrameHeaderValues.TryRead(headers, out var read));
        Assert.Equal(values, read);

        var block = "NATS/1.0\r\n" + string.Join("", headers.Select(h => $"{h.Key}: {h.Value}\r\n")) + "\r\n";
        var parsed = FrameHeaderValues.ParseStored(Convert.ToBase64String(Encoding.UTF8.GetBytes(block)));
        Assert.True(FrameHeaderValues.TryRead(parsed, out var stored));
        Assert.Equal(values, stored);

        headers[RelayHeaders.Sequence] = "not-a-number";
        Assert.False(FrameHeaderValues.TryRead(headers, out _));
        Assert.False(FrameHeaderValues.TryRead(new NatsHeaders(), out _));
        Assert.Null(FrameHeaderValues.ParseStored("%%%"));
    }

    [Theory]
    [InlineData("""{"stream":"S","seq":5}""", 0, true, 5UL, false, null)]
    [InlineData("""{"stream":"S", "seq":6,"duplicate":true}""", 0, true, 6UL, true, null)]
    [InlineData("""{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}""", 0, false, 0UL, false, "maximum messages exceeded")]
    [InlineData("", 503, false, 0UL, false, "no responders (is the stream there?)")]
    [InlineData("{not json", 0, false, 0UL, false, "unreadable acknowledgement")]
    public void PubAck_parses_acknowledgements_and_refusals(string json, int status, bool success, ulong seq, bool duplicate, string? error)
    {
        var ack = PubAck.Parse(Encoding.UTF8.GetBytes(json), status);
        Assert.Equal(new PubAck(success, seq, duplicate, error), ack);
    }

    [Theory]
    [InlineData("12:40:3", true, 12UL, 40L, 3L)]
    [InlineData("12", true, 12UL, 0L, 0L)]
    [InlineData("12:40", false, 0UL, 0L, 0L)]
    [InlineData("x:1:1", false, 0UL, 0L, 0L)]
    [InlineData("", false, 0UL, 0L, 0L)]
    public void FeedPosition_parses_its_text(string text, bool ok, ulong stream, long relay, long generation)
    {
        Assert.Equal(ok, FeedPosition.TryParse(text, out var position));
        if (ok)
        {
            Assert.Equal(new FeedPosition(stream, relay, generation), position);
            Assert.True(FeedPosition.TryParse(position.ToString(), out var again));
            Assert.Equal(position.StreamSequence, again.StreamSequence);
        }
    }

    [Fact]
    public void Relay_options_bind_from_configuration_and_validate_naming_the_field()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Relay:Feed"] = "binance",
            ["Relay:Nats:Url"] = "nats://relay:s3cret@nats.internal:4222",
            ["Relay:Nats:Tls:Mode"] = "Require",
            ["Relay:Nats:CredsFile"] = "/run/secrets/relay.creds",
            ["Relay:Lease:Ttl"] = "00:00:08",
            ["Relay:Lease:FenceAfter"] = "00:00:04",
            ["Relay:MaxInFlight"] = "256",
        }).Build();
        var options = NatsRelayOptions.FromConfiguration(configuration.GetSection("Relay"));
        Assert.Equal("binance", options.Feed);
        Assert.Equal(NatsTlsMode.Require, options.Nats.Tls.Mode);
        Assert.Equal(TimeSpan.FromSeconds(8), options.Lease.Ttl);
        Assert.Equal(256, options.MaxInFlight);
        Assert.Equal(TimeSpan.FromSeconds(4), options.Lease.CloseMargin);
        var opts = options.Nats.ToNatsOpts("x");
        Assert.Equal(TlsMode.Require, opts.TlsOpts.Mode);
        Assert.Equal("/run/secrets/relay.creds", opts.AuthOpts.CredsFile);
        Assert.True(opts.PublishTimeoutOnDisconnected);

        // Nothing secret in what is printed or logged.
        Assert.DoesNotContain("s3cret", options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", options.Nats.RedactedUrl, StringComparison.Ordinal);
        Assert.Contains("creds file", options.Nats.ToString(), StringComparison.Ordinal);

        var bad = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Relay:Feed"] = "binance",
            ["Relay:Lease:Ttl"] = "00:00:02",
            ["Relay:Lease:FenceAfter"] = "00:00:03",
        }).Build();
        var error = Assert.Throws<ArgumentException>(() => NatsRelayOptions.FromConfiguration(bad.GetSection("Relay")));
        Assert.Contains("Lease.Ttl", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Feed", "", "Feed")]
    [InlineData("MaxInFlight", "0", "MaxInFlight")]
    [InlineData("BufferFrames", "10", "BufferFrames")]
    [InlineData("Nats:Url", "http://nats:4222", "Nats.Url")]
    [InlineData("Nats:Username", "relay", "Nats.Username")]
    [InlineData("Lease:RenewInterval", "00:00:03", "Lease.FenceAfter")]
    public void Invalid_relay_options_name_the_field(string key, string value, string field)
    {
        var values = new Dictionary<string, string?> { ["Feed"] = "f", [key] = value };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var error = Assert.Throws<ArgumentException>(() => NatsRelayOptions.FromConfiguration(configuration));
        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Feed_options_validate_durable_names_and_positions()
    {
        Assert.Contains("DurableName", Assert.Throws<ArgumentException>(() => new NatsFeedOptions { Feed = "f", Kind = NatsConsumerKind.Durable }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("StartAfter", Assert.Throws<ArgumentException>(() => new NatsFeedOptions { Feed = "f", StartAfter = "x" }.Validate()).Message, StringComparison.Ordinal);
        var ok = new NatsFeedOptions { Feed = "f", Kind = NatsConsumerKind.Durable, DurableName = "desk-1", StartAfter = "10:9:1" };
        ok.Validate();
        Assert.Equal(new FeedPosition(10, 9, 1), ok.StartAfterPosition);
    }

    [Theory]
    [Trait("Invariant", "Bus.V1")]
    [InlineData("2.9.10", true, true, null)]
    [InlineData("2.10.4", true, true, null)]
    [InlineData("v2.9.0-beta.1", true, true, null)]
    [InlineData("2.8.4", true, true, "older than 2.9.0")]
    [InlineData("2.9.10", false, true, "does not have JetStream enabled")]
    [InlineData("2.9.10", true, false, "does not support message headers")]
    [InlineData("", true, true, "no readable version")]
    public void Server_check_names_what_is_wrong(string version, bool jetStream, bool headers, string? expected)
    {
        if (expected is null)
        {
            NatsBus.CheckServer(version, jetStream, headers, "nats://h:4222");
            return;
        }

        var error = Assert.Throws<TransportException>(() => NatsBus.CheckServer(version, jetStream, headers, "nats://h:4222"));
        Assert.Equal(TransportErrorKind.Configuration, error.Kind);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("nats://h:4222", error.Message, StringComparison.Ordinal);
    }
}
