using Microsoft.Extensions.Logging;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets.Endpoints;

/// <summary>
/// The permessage-deflate fallback of one reconnecting connection (docs/adr/0019-deflate-fallback.md):
/// once a leaf reports that compression failed (<see cref="TransportErrorKind.Compression"/>), every
/// later handshake goes without the deflate offer (<see cref="HandshakeRequest.OfferCompression"/>),
/// so a feed whose server compresses in a way the leaf cannot inflate still flows, uncompressed.
/// Generic: it knows no leaf; a leaf only has to report the kind and honour the flag.
/// </summary>
/// <remarks>
/// <para>
/// Sticky for the connection's life (until <c>ShutdownAsync</c>; a new connection offers compression
/// again): how a server compresses is a property of its implementation, not of a moment, so
/// offering it again would fail again, and every failure costs a dropped socket and the messages
/// that were in flight on it.
/// </para>
/// <para>Invariants:</para>
/// <list type="bullet">
/// <item>Fallback.F1 after a Compression failure (a session's end or a failed connect attempt) every
/// later handshake of the connection has OfferCompression false, for the connection's life
/// (test: F1_a_compression_failure_turns_the_offer_off_for_every_later_attempt).</item>
/// <item>Fallback.F2 the failure that turned it off is reported with its kind, codes and cause, its
/// message extended to say that compression is off for the connection from now on, and logged once
/// as a warning (test: F2_the_reported_error_and_the_log_say_compression_is_off).</item>
/// <item>Fallback.F3 no other failure turns the offer off
/// (test: F3_other_failures_leave_the_offer_on).</item>
/// </list>
/// <para>Actor-only state: read and written on the connection actor's scheduler.</para>
/// </remarks>
internal sealed class CompressionFallback
{
    /// <summary>What the reported error's message gains when the fallback engages.</summary>
    public const string Suffix =
        " Compression is off for this connection from now on: every later attempt connects without offering permessage-deflate (docs/adr/0019).";

    private readonly ILogger _logger;
    private readonly string _name;

    public CompressionFallback(ILogger logger, string name)
    {
        _logger = logger;
        _name = name;
    }

    /// <summary>Whether the next handshake may offer permessage-deflate.</summary>
    public bool OfferCompression { get; private set; } = true;

    /// <summary>
    /// Looks at a failure: a Compression failure while the offer is on turns it off (Fallback.F1) and
    /// comes back with the extended message (Fallback.F2); anything else comes back as it is.
    /// </summary>
    /// <param name="error">A session's end or a failed attempt.</param>
    /// <returns>The error to report.</returns>
    public TransportException Observe(TransportException error)
    {
        if (error.Kind != TransportErrorKind.Compression || !OfferCompression)
        {
            return error;
        }

        OfferCompression = false;
        var reported = new TransportException(
            error.Kind,
            error.Message + Suffix,
            error.HttpStatus,
            error.CloseCode,
            error.CloseReason,
            error.InnerException ?? error,
            error.RetryAfter);

        // TransportException.ToString: kind, codes, composed message, inner type only (no URI, no payload).
        Log.CompressionOff(_logger, _name, reported.ToString());
        return reported;
    }
}
