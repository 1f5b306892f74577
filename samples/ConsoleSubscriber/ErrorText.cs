using System.Globalization;
using Transport;

namespace ConsoleSubscriber;

/// <summary>
/// A transport error in one line for a person: kind, then the HTTP status or close code that
/// explains it, then the stack's message (which never carries credentials).
/// </summary>
internal static class ErrorText
{
    public static string Describe(TransportException? error)
    {
        if (error is null) return "none";
        var detail = error switch
        {
            { HttpStatus: { } status } => $"HTTP {status.ToString(CultureInfo.InvariantCulture)}",
            { CloseCode: { } code } => $"close {code.ToString(CultureInfo.InvariantCulture)}" + (string.IsNullOrEmpty(error.CloseReason) ? string.Empty : $" \"{error.CloseReason}\""),
            _ => null,
        };
        return detail is null ? $"{error.Kind}: {error.Message}" : $"{error.Kind} ({detail}): {error.Message}";
    }
}
