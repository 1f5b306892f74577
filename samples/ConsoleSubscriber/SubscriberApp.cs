using System.CommandLine;

namespace ConsoleSubscriber;

/// <summary>
/// The public way in, for Program.cs and for tests that run the subscriber in process.
/// Exit codes: 0 clean run (duration reached or cancelled), 1 the connection became
/// unrecoverable, 2 bad arguments.
/// </summary>
public static class SubscriberApp
{
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
        var exit = await root.Parse(args).InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
        // System.CommandLine answers parse errors with 1; ours is 2 so "unrecoverable" stays distinguishable.
        return root.Parse(args).Errors.Count > 0 ? 2 : exit;
    }
}
