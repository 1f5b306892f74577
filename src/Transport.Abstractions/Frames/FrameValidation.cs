using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Transport;

/// <summary>
/// What every sink and leaf checks before a frame is queued or written (Send.V1: a Text frame that is
/// not valid UTF-8 never reaches the wire; RFC 6455 5.6 would make the peer close with 1007, and the
/// adapter's encoding bug would show up as a dropped feed instead of an error at the call).
/// </summary>
internal static class FrameValidation
{
    /// <summary>False for a Text frame whose payload is not valid UTF-8; true for anything else.</summary>
    /// <param name="frame">The frame.</param>
    /// <returns>Whether the frame may go on the wire as far as UTF-8 is concerned.</returns>
    public static bool HasValidText(in Frame frame) => frame.Kind != FrameKind.Text || Utf8.IsValid(frame.Payload.Span);

    /// <summary>The refusal message: names the offset of the first invalid byte, never the payload (it may carry credentials).</summary>
    /// <param name="payload">The Text frame's payload.</param>
    /// <returns>The message.</returns>
    public static string InvalidUtf8Message(ReadOnlySpan<byte> payload) =>
        $"A Text frame must be valid UTF-8 (RFC 6455 5.6); byte {FirstInvalidByte(payload)} of this {payload.Length}-byte payload is not. Send it as Binary, or fix its encoding: a venue would close the connection with 1007.";

    private static int FirstInvalidByte(ReadOnlySpan<byte> payload)
    {
        var offset = 0;
        while (offset < payload.Length)
        {
            if (Rune.DecodeFromUtf8(payload[offset..], out _, out var consumed) != OperationStatus.Done)
            {
                return offset;
            }

            offset += consumed;
        }

        return payload.Length;
    }
}
