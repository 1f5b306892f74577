namespace Transport.Tests.Abstractions;

public sealed class HandshakeRequestTests
{
    private const string Secret = "s3cr3t-value";

    [Fact]
    public void ToString_redacts_sensitive_headers_query_values_and_every_cookie()
    {
        var request = new HandshakeRequest(new Uri("wss://venue.example/ws?symbol=BTC"));
        request.Headers["Authorization"] = $"Bearer {Secret}";
        request.Headers["X-Client"] = "adapter-1";
        request.Cookies["region"] = Secret; // not a credential-looking name: cookies are masked regardless
        request.Query["token"] = Secret;
        request.Query["resume_from"] = "42";
        request.SubProtocols.Add("feed.v2");

        var text = request.ToString();

        Assert.DoesNotContain(Secret, text, StringComparison.Ordinal);
        Assert.Contains("symbol=BTC", text, StringComparison.Ordinal);
        Assert.Contains("resume_from=42", text, StringComparison.Ordinal);
        Assert.Contains($"token={Redaction.Mask}", text, StringComparison.Ordinal);
        Assert.Contains("X-Client: adapter-1", text, StringComparison.Ordinal);
        Assert.Contains($"Authorization: {Redaction.Mask}", text, StringComparison.Ordinal);
        Assert.Contains($"region={Redaction.Mask}", text, StringComparison.Ordinal);
        Assert.Contains("feed.v2", text, StringComparison.Ordinal);
    }

    [Fact]
    public void SensitiveNames_extend_the_redaction_to_venue_specific_names()
    {
        var request = new HandshakeRequest(new Uri("wss://venue.example/ws"));
        request.Headers["X-Account"] = Secret;
        request.Query["acct"] = Secret;
        Assert.Contains(Secret, request.ToString(), StringComparison.Ordinal);

        request.SensitiveNames.Add("X-Account");
        request.SensitiveNames.Add("acct");

        Assert.DoesNotContain(Secret, request.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void BuildUri_appends_escaped_query_to_the_existing_one_and_keeps_the_secret()
    {
        var request = new HandshakeRequest(new Uri("wss://venue.example/ws?symbol=BTC"));
        request.Query["token"] = "a b&c";

        var uri = request.BuildUri();

        Assert.Equal("?symbol=BTC&token=a%20b%26c", uri.Query);
    }

    [Fact]
    public void BuildUri_without_query_returns_the_uri_unchanged()
    {
        var uri = new Uri("wss://venue.example/ws");

        Assert.Same(uri, new HandshakeRequest(uri).BuildUri());
    }
}
