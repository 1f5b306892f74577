namespace Transport.Tests.Abstractions;

public sealed class RedactionTests
{
    private const string Secret = "s3cr3t-value";

    [Theory]
    [InlineData("Authorization")]
    [InlineData("X-MBX-APIKEY")]
    [InlineData("api_key")]
    [InlineData("listenKey")]
    [InlineData("access_token")]
    [InlineData("Cookie")]
    [InlineData("X-Signature")]
    [InlineData("passphrase")]
    public void Credential_bearing_names_are_sensitive(string name) => Assert.True(Redaction.IsSensitiveName(name));

    [Theory]
    [InlineData("symbol")]
    [InlineData("resume_from")]
    [InlineData("X-Client")]
    public void Ordinary_names_are_not_sensitive(string name) => Assert.False(Redaction.IsSensitiveName(name));

    [Fact]
    public void RedactUri_masks_sensitive_query_values_and_user_info_but_keeps_the_rest()
    {
        var uri = new Uri($"wss://user:{Secret}@venue.example:9443/stream?symbol=BTCUSD&token={Secret}&listenKey={Secret}");

        var redacted = Redaction.RedactUri(uri);

        Assert.DoesNotContain(Secret, redacted, StringComparison.Ordinal);
        Assert.Equal($"wss://{Redaction.Mask}@venue.example:9443/stream?symbol=BTCUSD&token={Redaction.Mask}&listenKey={Redaction.Mask}", redacted);
    }

    [Fact]
    public void RedactUri_masks_extra_names_the_caller_declares()
    {
        var uri = new Uri($"wss://venue.example/ws?account={Secret}&symbol=ETH");

        Assert.Contains(Secret, Redaction.RedactUri(uri), StringComparison.Ordinal);
        Assert.Equal($"wss://venue.example/ws?account={Redaction.Mask}&symbol=ETH", Redaction.RedactUri(uri, ["account"]));
    }
}
