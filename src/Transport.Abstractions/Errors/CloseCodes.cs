namespace Transport;

/// <summary>WebSocket close status codes (RFC 6455 section 7.4) the transport uses or reports.</summary>
public static class CloseCodes
{
    /// <summary>1000: normal closure.</summary>
    public const int NormalClosure = 1000;

    /// <summary>1001: the endpoint is going away (server shutdown, browser navigating away).</summary>
    public const int GoingAway = 1001;

    /// <summary>1002: protocol error.</summary>
    public const int ProtocolError = 1002;

    /// <summary>1003: a data type the endpoint cannot accept.</summary>
    public const int UnsupportedData = 1003;

    /// <summary>1005: no status code was present (never sent on the wire).</summary>
    public const int NoStatus = 1005;

    /// <summary>1006: the connection closed without a close frame (never sent on the wire).</summary>
    public const int Abnormal = 1006;

    /// <summary>1007: a message's data was inconsistent with its type (for example invalid UTF-8 in text).</summary>
    public const int InvalidPayload = 1007;

    /// <summary>1008: policy violation.</summary>
    public const int PolicyViolation = 1008;

    /// <summary>1009: a message was too big to process.</summary>
    public const int MessageTooBig = 1009;

    /// <summary>1011: the server hit an unexpected condition.</summary>
    public const int InternalError = 1011;

    /// <summary>1012: the service is restarting.</summary>
    public const int ServiceRestart = 1012;

    /// <summary>1013: try again later.</summary>
    public const int TryAgainLater = 1013;
}
