using System.CommandLine;

namespace ConsoleSubscriber;

/// <summary>
/// The public way in, for Program.cs and for tests that run the subscriber in process.
/// Exit codes: 0 clean run (duration reached or cancelled), 1 the connection became
/// unrecoverable, 2 bad arguments (a usage error, never a crash), 3 the run ended without ever
/// connecting (refused port, 404, timeouts: the last error is printed).
/// </summary>
public static class SubscriberApp
{
    /// <summary>The run ended normally after the feed had been up.</summary>
    public const int ExitOk = 0;

    /// <summary>The connection became Unrecoverable (e.g. a rejected token: HTTP 401).</summary>
    public const int ExitUnrecoverable = 1;

    /// <summary>Bad arguments: a usage error was printed.</summary>
    public const int ExitUsage = 2;

    /// <summary>The run ended (duration or Ctrl+C) without the feed ever coming up.</summary>
    public const int ExitNeverConnected = 3;

    /// <summary>Parses <paramref name="args"/>, runs until the duration or <paramref name="cancellationToken"/>, prints a summary to <paramref name="output"/>.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="output">Where the view, events and summary go.</param>
    /// <param name="cancellationToken">Ctrl+C: shut down gracefully and print the summary.</param>
    /// <param name="interactive">True when <paramref name="output"/> is a terminal that can host the live table.</param>
    public static async Task<int> RunAsync(string[] args, TextWriter output, CancellationToken cancellationToken, bool interactive = false)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        var synced = TextWriter.Synchronized(output);
        var root = SubscriberCommandLine.Create((settings, ct) =>
            new SubscriberRunner(settings with { Plain = settings.Plain || !interactive }, synced).RunAsync(ct));
        var invocation = new InvocationConfiguration
        {
            Output = synced,
            Error = synced,
            // Ctrl+C is Program.cs's business (it cancels our token); a library must not hook process signals.
            ProcessTerminationTimeout = null,
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // System.CommandLine answers parse errors with 1; ours is 2 so "unrecoverable" stays distinguishable.
            foreach (var error in parsed.Errors) synced.WriteLine($"error: {error.Message}");
            synced.WriteLine("usage: ConsoleSubscriber [--url ws(s)://...] [--topics A,B] [--venue ibkr|binance] [--chaos] [--duration SECONDS] [--plain] [--token TOKEN] [--per-connection N] [--legs N] [--venue-lifetime SECONDS]  (--help for more)");
            return ExitUsage;
        }

        return await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
    }
}
