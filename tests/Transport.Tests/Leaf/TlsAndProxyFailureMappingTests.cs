using System.Net.Http;
using System.Net.WebSockets;
using System.Security.Authentication;
using Transport.WebSockets;

namespace Transport.Tests.Leaf;

/// <summary>
/// The pure mapping of TLS and proxy failures (WebSocketFailures) that both leaves share: the shapes
/// SocketsHttpHandler and ClientWebSocket throw, classified, with messages composed from whitelisted
/// verdicts only (the platform's own messages can name the URI or the proxy's credentials).
/// The same shapes come from real sockets in tests/Transport.IntegrationTests/Tls and Proxy.
/// </summary>
public sealed class TlsAndProxyFailureMappingTests
{
    private const string Secret = "SUPERSECRET-map-0b3e";

    [Fact]
    public void Certificate_rejected_by_the_platform_is_Tls_Permanent_naming_the_verdicts_but_not_the_platform_text()
    {
        var auth = new AuthenticationException($"The remote certificate is invalid according to the validation procedure: RemoteCertificateNameMismatch, RemoteCertificateChainErrors (wss://venue/ws?token={Secret})");
        var thrown = new WebSocketException("Unable to connect to the remote server", new HttpRequestException(HttpRequestError.SecureConnectionError, "The SSL connection could not be established, see inner exception.", auth));

        var error = Assert.IsType<TransportException>(WebSocketFailures.MapConnect(thrown, 0, null, DateTimeOffset.UnixEpoch, CancellationToken.None));

        Assert.Equal(TransportErrorKind.Tls, error.Kind);
        Assert.Equal(FailureClass.Permanent, DefaultFailureClassifier.Instance.Classify(error));
        Assert.Contains("RemoteCertificateNameMismatch, RemoteCertificateChainErrors", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("wss://", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("The remote certificate is invalid because of errors in the certificate chain: PartialChain", "(RemoteCertificateChainErrors: PartialChain)")]
    [InlineData("The remote certificate was rejected by the provided RemoteCertificateValidationCallback.", "(refused by the RemoteCertificateValidationCallback)")]
    [InlineData("Authentication failed, see inner exception.", "(AuthenticationException)")]
    public void Tls_message_says_what_the_platform_said_in_whitelisted_words(string platform, string expected)
    {
        var error = WebSocketFailures.MapTls(new HttpRequestException(HttpRequestError.SecureConnectionError, "x", new AuthenticationException(platform)));

        Assert.NotNull(error);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Not_a_tls_failure_is_not_mapped_as_one()
    {
        Assert.Null(WebSocketFailures.MapTls(new HttpRequestException(HttpRequestError.ConnectionError, "refused", new IOException("reset"))));
        Assert.Null(WebSocketFailures.MapProxy(new HttpRequestException(HttpRequestError.ConnectionError, "refused")));
    }

    [Theory]
    [InlineData(407, TransportErrorKind.Configuration, FailureClass.Permanent)]
    [InlineData(403, TransportErrorKind.Configuration, FailureClass.Permanent)]
    [InlineData(502, TransportErrorKind.Connection, FailureClass.Transient)]
    [InlineData(503, TransportErrorKind.Connection, FailureClass.Transient)]
    public void Proxy_refusal_is_classified_by_the_proxy_status_without_the_proxy_uri(int status, TransportErrorKind kind, FailureClass expected)
    {
        var tunnel = new HttpRequestException(HttpRequestError.ProxyTunnelError, $"The proxy tunnel request to proxy 'http://svc:{Secret}@proxy.corp:3128/' failed with status code '{status}'.");

        var error = Assert.IsType<TransportException>(WebSocketFailures.MapConnect(new WebSocketException("Unable to connect to the remote server", tunnel), 0, null, DateTimeOffset.UnixEpoch, CancellationToken.None));

        Assert.Equal(kind, error.Kind);
        Assert.Equal(expected, DefaultFailureClassifier.Instance.Classify(error));
        Assert.Contains($"HTTP {status}", error.Message, StringComparison.Ordinal);
        Assert.Null(error.HttpStatus);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("proxy.corp", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Proxy_refusal_without_a_readable_status_is_Transient()
    {
        var error = WebSocketFailures.MapProxy(new HttpRequestException(HttpRequestError.ProxyTunnelError, "tunnel failed"));

        Assert.NotNull(error);
        Assert.Equal(TransportErrorKind.Connection, error.Kind);
        Assert.Equal(FailureClass.Transient, DefaultFailureClassifier.Instance.Classify(error));
    }
}
