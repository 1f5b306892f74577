namespace Transport.Tests.Leaf.Differential;

/// <summary>
/// Where RFC 6455 / RFC 7692 let the Pipelines leaf and the runtime's ManagedWebSocket differ, or the
/// runtime departs from them: each a named, narrow predicate over the case and both results. Listed in
/// docs/conformance.md ("Differences from the runtime"). A difference no rule explains fails the test.
/// </summary>
internal static class KnownDifferences
{
    /// <summary>The rules, in the order they are tried. The reference is the RFC oracle when the case has one, else the Pipelines leaf's result.</summary>
    public static IReadOnlyList<KnownDifference> Runtime { get; } =
    [
        new("D1 no-status close",
            "A close frame without a payload: RFC 6455 7.1.5 says the close code is then 1005 (the Pipelines leaf reports 1005); the runtime reports 1000.",
            (_, reference, runtime) => SameMessages(reference, runtime) && reference is { End: EndKind.PeerClose, CloseCode: CloseCodes.NoStatus } && runtime is { End: EndKind.PeerClose, CloseCode: CloseCodes.NormalClosure, CloseReason: null or "" }),
        new("D2 close reason not UTF-8",
            "A close reason that is not valid UTF-8: both fail the connection; the Pipelines leaf closes 1007 (RFC 6455 7.4.1: data not consistent with its type), the runtime 1002. Autobahn|Testsuite 7.5.1 accepts either.",
            (c, reference, runtime) => SameMessages(reference, runtime) && reference is { End: EndKind.Failed, SentCloseCode: CloseCodes.InvalidPayload } && runtime is { End: EndKind.Failed, SentCloseCode: CloseCodes.ProtocolError }
                && (c.Features.Contains("close-reason-utf8") || reference.Detail.Contains("close reason that is not valid UTF-8", StringComparison.Ordinal))),
        new("D3 compressed control frame",
            "RSV1 on a control frame: RFC 7692 6.1 defines RSV1 for data messages only, so RFC 6455 5.2 makes it a failure (the Pipelines leaf closes 1002); the runtime ignores the bit and goes on.",
            (c, reference, runtime) => reference is { End: EndKind.Failed, SentCloseCode: CloseCodes.ProtocolError } && IsPrefix(reference.Messages, runtime.Messages)
                && (c.Features.Contains("compressed-control") || reference.Detail.Contains("reserved bits set on a control frame", StringComparison.Ordinal))),
        new("D4 inflate error without a close",
            "Compressed data that does not inflate: both fail the connection; the Pipelines leaf closes 1007 (its inflater, or its UTF-8 check on what corrupt data inflated to, finds it first), the runtime aborts without a close frame (RFC 6455 7.1.7 allows dropping the connection).",
            (c, reference, runtime) => SameMessages(reference, runtime) && c.Deflate is not null && reference is { End: EndKind.Failed, SentCloseCode: CloseCodes.InvalidPayload } && runtime is { End: EndKind.Failed, SentCloseCode: null }
                && runtime.Detail.Contains("compression method", StringComparison.Ordinal)),
        new("D5 final block",
            "A deflate block with BFINAL=1 (RFC 7692 7.2.3.4 allows it, with or without the 0x00 octet after it, and further blocks after it): the runtime fails the connection ('Data received after the DEFLATE stream was terminated with BFINAL') without a close frame; the Pipelines leaf inflates it (Deflate.I1, I2) and goes on.",
            (c, reference, runtime) => runtime is { End: EndKind.Failed, SentCloseCode: null } && runtime.Detail.Contains("BFINAL", StringComparison.Ordinal) && IsPrefix(runtime.Messages, reference.Messages)
                && (c.Oracle is null || c.Features.Contains("final-block") || c.Features.Contains("final-block-mid-message"))),
        new("D6 oversized frame refused at its header",
            "A frame whose declared length passes the limit, in a stream that ends inside it: the Pipelines leaf refuses it at its header (1009, PipeLeaf.R2); the runtime first waits for the payload and meets the end of the stream.",
            (c, reference, runtime) => SameMessages(reference, runtime) && reference.End == EndKind.TooBig && runtime.End == EndKind.ConnectionLost && StreamShape.EndsInsideFrame(c.Stream)),
        new("D7 fail fast inside a truncated frame",
            "A stream that ends inside a frame or a fragmented message whose bytes so far are already invalid (a masked header, UTF-8 that no continuation can make valid, deflate data): the Pipelines leaf fails as soon as those bytes arrive (1002 or 1007; RFC 6455 8.1 asks to fail fast); the runtime first reads the whole header (mask key included), the payload, or the next bytes of a split character, and meets the end of the stream.",
            (c, reference, runtime) => SameMessages(reference, runtime) && reference is { End: EndKind.Failed, SentCloseCode: not null } && runtime.End == EndKind.ConnectionLost && StreamShape.EndsInsideFrameOrMessage(c.Stream)),
        new("D8 too big and invalid",
            "A message that is both past the limit and not valid (UTF-8 or deflate): both fail the connection, at whichever check comes first; the Pipelines leaf inflates to the limit before it validates the rest, the runtime validates each 16 KiB it reads.",
            (_, reference, runtime) => SameMessages(reference, runtime)
                && ((reference.End == EndKind.TooBig && runtime is { End: EndKind.Failed, SentCloseCode: CloseCodes.InvalidPayload or null })
                    || (reference is { End: EndKind.Failed, SentCloseCode: CloseCodes.InvalidPayload } && runtime.End == EndKind.TooBig))),
        new("D9 runtime misses an incomplete character before an empty last fragment",
            "A text message whose last fragment is empty while its last character is incomplete: RFC 6455 8.1 requires failing (the Pipelines leaf closes 1007); the runtime returns the empty fragment without its end-of-message UTF-8 check and delivers the invalid text (a runtime defect).",
            (_, reference, runtime) => reference is { End: EndKind.Failed, SentCloseCode: CloseCodes.InvalidPayload } && runtime.Messages.Count > reference.Messages.Count && IsPrefix(reference.Messages, runtime.Messages)
                && runtime.Messages[reference.Messages.Count] is { Kind: FrameKind.Text } extra && !System.Text.Unicode.Utf8.IsValid(extra.Payload)),
        new("D10 back-reference past the agreed window",
            "Compressed data that refers further back than 2^server_max_window_bits (only corrupt data here; a conforming server never does): the runtime's inflater has exactly that window and fails without a close frame; the Pipelines leaf inflates with a 32 KiB window whatever the agreement (System.IO.Compression offers no smaller one for decompression) and reads on.",
            (c, reference, runtime) => c.Oracle is null && c.Deflate is { ServerMaxWindowBits: < 15 } && runtime is { End: EndKind.Failed, SentCloseCode: null } && runtime.Detail.Contains("compression method", StringComparison.Ordinal)
                && IsPrefix(runtime.Messages, reference.Messages) && reference.Messages.Count > runtime.Messages.Count),
        new("D11 two faults, found in a different order",
            "A mutated stream with more than one fault after the same messages: both clients deliver the same data and fail the connection, each at the fault its reading order meets first (a header check, an inflate error, a UTF-8 check), so the close codes differ.",
            (c, reference, runtime) => c.Oracle is null && SameMessages(reference, runtime) && reference.End == EndKind.Failed && runtime.End == EndKind.Failed),
    ];

    /// <summary>The one way the Pipelines leaf may fall short of the RFC oracle: Deflate.I3 (1003 where data continues after a final block inside a frame).</summary>
    public static KnownDifference OursUnsupportedLayout { get; } = new(
        "L1 final block inside a frame",
        "permessage-deflate data that continues after a final (BFINAL=1) block in the middle of a frame: valid RFC 7692 data the Pipelines leaf refuses with 1003 (Deflate.I3), never drops.",
        (_, oracle, ours) => oracle.UnsupportedLayoutAt.Contains(ours.Messages.Count) && IsPrefix(ours.Messages, oracle.Messages)
            && ours is { End: EndKind.Failed, SentCloseCode: CloseCodes.UnsupportedData });

    public static bool SameMessages(RunResult a, RunResult b) => a.Messages.Count == b.Messages.Count && IsPrefix(a.Messages, b.Messages);

    public static bool IsPrefix(IReadOnlyList<(FrameKind Kind, byte[] Payload)> prefix, IReadOnlyList<(FrameKind Kind, byte[] Payload)> of)
    {
        if (prefix.Count > of.Count)
        {
            return false;
        }

        for (var i = 0; i < prefix.Count; i++)
        {
            if (prefix[i].Kind != of[i].Kind || !prefix[i].Payload.AsSpan().SequenceEqual(of[i].Payload))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>One documented difference: an id, the reason in words, and when it applies.</summary>
internal sealed record KnownDifference(string Id, string Reason, Func<ServerCase, RunResult, RunResult, bool> Applies);
