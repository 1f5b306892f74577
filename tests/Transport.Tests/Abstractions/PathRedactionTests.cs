namespace Transport.Tests.Abstractions;

/// <summary>Redaction.R1: a path segment marked sensitive never appears in redacted output.</summary>
public sealed class PathRedactionTests
{
    private const string Secret = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1";

    [Theory]
    [Trait("Invariant", "Redaction.R1")]
    [InlineData(1)]
    [InlineData(-1)]
    public void Marked_path_segment_is_masked_by_index_from_either_end(int index)
    {
        var uri = new Uri($"wss://stream.venue.example:9443/ws/{Secret}?symbol=btcusdt");

        var redacted = Redaction.RedactUri(uri, null, [index]);

        Assert.Equal($"wss://stream.venue.example:9443/ws/{Redaction.Mask}?symbol=btcusdt", redacted);
    }

    [Fact]
    public void Unmarked_or_out_of_range_segments_are_kept()
    {
        var uri = new Uri("wss://venue.example/ws/public");

        Assert.Equal("wss://venue.example/ws/public", Redaction.RedactUri(uri));
        Assert.Equal("wss://venue.example/ws/public", Redaction.RedactUri(uri, null, [5, -7]));
    }

    [Fact]
    [Trait("Invariant", "Redaction.R1")]
    public void Handshake_request_masks_its_marked_segments_names_and_query_everywhere_it_is_shown()
    {
        var request = new HandshakeRequest(new Uri($"wss://venue.example/private/{Secret}/stream"));
        request.SensitivePathSegments.Add(1);
        request.SensitiveNames.Add("X-Account");
        request.Headers["X-Account"] = Secret;
        request.Query["acct"] = Secret;
        request.SensitiveNames.Add("acct");

        Assert.DoesNotContain(Secret, request.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, request.ToRedactedUriString(), StringComparison.Ordinal);
        Assert.Contains("/private/***/stream", request.ToRedactedUriString(), StringComparison.Ordinal);
        Assert.Contains(Secret, request.BuildUri().AbsolutePath, StringComparison.Ordinal); // the real URI is intact
    }

    [Fact]
    [Trait("Invariant", "Redaction.R1")]
    public void Options_and_endpoints_show_configured_segments_masked()
    {
        var options = new TransportOptionsBuilder()
            .WithUri($"wss://venue.example/ws/{Secret}")
            .WithSensitivePathSegments(-1)
            .Build();
        var endpoint = new TransportEndpoint(new Uri($"wss://b.example/ws/{Secret}"), [-1]);

        Assert.DoesNotContain(Secret, options.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, endpoint.ToString(), StringComparison.Ordinal);
    }
}
