using System.Net.WebSockets;
using Transport.WebSockets;

namespace Transport.Tests.Leaf;

/// <summary>
/// The ClientWebSocket leaf's mapping of an inflater failure (WebSocketFailures.MapReceive): the
/// shapes .NET 10's ClientWebSocket throws (checked against python3-websockets and ws servers in
/// tests/Transport.IntegrationTests/Interop/DeflateInteropTests.cs) become Compression when
/// permessage-deflate was negotiated, and stay what they were otherwise.
/// </summary>
public sealed class InflateFailureMappingTests
{
    // The platform's exact texts (System.Net.WebSockets resources net_WebSockets_DataAfterBFinal and ZLibUnsupportedCompression).
    private const string DataAfterBFinal = "Data received after the DEFLATE stream was terminated with BFINAL.";
    private const string UnsupportedCompression = "The message was compressed using an unsupported compression method.";

    [Fact]
    [Trait("Invariant", "Receiver.R7")]
    public void A_final_block_message_is_a_Compression_error_naming_the_final_block()
    {
        var thrown = new WebSocketException(DataAfterBFinal);

        var error = Assert.IsType<TransportException>(WebSocketFailures.MapReceive(thrown, CancellationToken.None, keepAliveTimeoutEnabled: false, deflateNegotiated: true));

        Assert.Equal(TransportErrorKind.Compression, error.Kind);
        Assert.Equal(CloseCodes.Abnormal, error.CloseCode);
        Assert.Same(thrown, error.InnerException);
        Assert.Contains("final (BFINAL=1) deflate block", error.Message, StringComparison.Ordinal);
        Assert.Contains("RFC 7692 section 7.2.3.3", error.Message, StringComparison.Ordinal);
        Assert.Equal(FailureClass.Transient, DefaultFailureClassifier.Instance.Classify(error));
    }

    [Fact]
    [Trait("Invariant", "Receiver.R7")]
    public void Invalid_deflate_data_is_a_Compression_error_too()
    {
        var error = Assert.IsType<TransportException>(WebSocketFailures.MapReceive(new WebSocketException(UnsupportedCompression), CancellationToken.None, keepAliveTimeoutEnabled: true, deflateNegotiated: true));

        Assert.Equal(TransportErrorKind.Compression, error.Kind);
        Assert.Contains("could not inflate a compressed message", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(UnsupportedCompression, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Invariant", "Receiver.R7")]
    public void Without_deflate_negotiated_the_same_shape_stays_a_Connection_error()
    {
        var error = Assert.IsType<TransportException>(WebSocketFailures.MapReceive(new WebSocketException(DataAfterBFinal), CancellationToken.None, keepAliveTimeoutEnabled: false, deflateNegotiated: false));

        Assert.Equal(TransportErrorKind.Connection, error.Kind);
    }

    [Theory]
    [InlineData(WebSocketError.ConnectionClosedPrematurely, TransportErrorKind.Connection)]
    [InlineData(WebSocketError.Faulted, TransportErrorKind.Protocol)]
    [InlineData(WebSocketError.HeaderError, TransportErrorKind.Protocol)]
    public void Other_receive_failures_keep_their_kind_when_deflate_was_negotiated(WebSocketError code, TransportErrorKind expected)
    {
        var error = Assert.IsType<TransportException>(WebSocketFailures.MapReceive(new WebSocketException(code), CancellationToken.None, keepAliveTimeoutEnabled: false, deflateNegotiated: true));

        Assert.Equal(expected, error.Kind);
    }

    [Fact]
    [Trait("Invariant", "Receiver.R7")]
    public void A_wrapped_failure_is_not_an_inflater_failure()
    {
        var thrown = new WebSocketException(WebSocketError.ConnectionClosedPrematurely, new IOException("reset"));

        var error = Assert.IsType<TransportException>(WebSocketFailures.MapReceive(thrown, CancellationToken.None, keepAliveTimeoutEnabled: false, deflateNegotiated: true));

        Assert.Equal(TransportErrorKind.Connection, error.Kind);
    }
}
