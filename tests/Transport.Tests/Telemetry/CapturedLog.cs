using Microsoft.Extensions.Logging;

namespace Transport.Tests.Telemetry;

/// <summary>One captured log call: everything a sink could write (message, state values, exception).</summary>
internal sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, IReadOnlyList<KeyValuePair<string, object?>> State, Exception? Exception)
{
    /// <summary>Every string a structured or plain-text sink could render from this entry.</summary>
    public IEnumerable<string> Renderings()
    {
        yield return Message;
        foreach (var (key, value) in State)
        {
            yield return key + "=" + value;
        }

        if (Exception is not null)
        {
            yield return Exception.ToString();
            yield return Exception.Message;
        }
    }
}
