using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Transport.IntegrationTests.Hosting;

/// <summary>Records every log line of the host (all categories, all levels) with its exception, if any.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<(string Category, string Line)> _lines = new();

    public IReadOnlyList<(string Category, string Line)> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<(string, string)> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Collections are written element by element: a string[] header value printed as
            // "System.String[]" hid raw header values from a secrets assertion (issue 25).
            var values = state is IReadOnlyList<KeyValuePair<string, object?>> kv ? string.Join(" ", kv.Select(p => $"{p.Key}={Format(p.Value)}")) : string.Empty;
            lines.Enqueue((category, $"{logLevel} {eventId.Name}: {formatter(state, exception)} | {values} | {exception}"));
        }

        private static string? Format(object? value) => value switch
        {
            null => null,
            string s => s,
            System.Collections.IEnumerable items => "[" + string.Join(", ", items.Cast<object?>().Select(Format)) + "]",
            _ => value.ToString(),
        };
    }
}
