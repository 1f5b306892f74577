using System.Runtime.InteropServices;

namespace VenueSimulator.Hosting;

/// <summary>
/// A console program's stop signals, owned by the program (never by a library or an embedded host):
/// the first SIGINT (Ctrl+C) or SIGTERM (<c>docker stop</c>, systemd, <c>timeout</c>, Kubernetes)
/// cancels <see cref="Token"/> and is otherwise swallowed, so the program stops the way it chooses
/// (close handshakes, a summary, its own exit code). A second Ctrl+C (SIGINT) is left to the runtime's
/// default, which ends the process at once: a person can always interrupt a stuck shutdown. Repeated
/// SIGTERMs are swallowed too: supervisors send more than one (<c>timeout</c> signals the process and
/// then its process group; systemd signals every process of the unit) and escalate with SIGKILL on
/// their own schedule.
/// </summary>
/// <remarks>
/// Both samples use it (<c>ConsoleSubscriber</c> and <c>VenueSimulator</c>); tests send the signals
/// to child processes (<c>Samples.Tests.Console.SignalTests</c>).
/// </remarks>
public sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<PosixSignal>? _onFirst;
    private readonly PosixSignalRegistration[] _registrations;
    private int _received; // 0 until the first signal, then (int)signal + 1000 (PosixSignal values are negative)

    private StopSignals(Action<PosixSignal>? onFirst)
    {
        _onFirst = onFirst;
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle),
        ];
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>The first signal received, or null.</summary>
    public PosixSignal? Received => Volatile.Read(ref _received) is var r and not 0 ? (PosixSignal)(r - 1000) : null;

    /// <summary>Starts handling SIGINT and SIGTERM until disposed.</summary>
    /// <param name="onFirst">Called once, on the signal's thread, with the first signal (e.g. to print "stopping").</param>
    /// <returns>The registration; dispose it when the program ends.</returns>
    public static StopSignals Register(Action<PosixSignal>? onFirst = null) => new(onFirst);

    /// <summary>The name users know: <c>SIGTERM</c>, <c>SIGINT (Ctrl+C)</c>.</summary>
    /// <param name="signal">The signal.</param>
    /// <returns>Its display name.</returns>
    public static string Describe(PosixSignal signal) => signal switch
    {
        PosixSignal.SIGINT => "SIGINT (Ctrl+C)",
        PosixSignal.SIGTERM => "SIGTERM",
        _ => signal.ToString(),
    };

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _stop.Dispose();
    }

    private void Handle(PosixSignalContext context)
    {
        if (Interlocked.CompareExchange(ref _received, (int)context.Signal + 1000, 0) != 0)
        {
            // Already stopping: a second Ctrl+C takes the runtime's default (the process ends now);
            // a repeated SIGTERM is the supervisor's duplicate and changes nothing.
            context.Cancel = context.Signal != PosixSignal.SIGINT;
            return;
        }

        context.Cancel = true;
        try
        {
            _onFirst?.Invoke(context.Signal);
        }
        catch (Exception)
        {
            // Printing "stopping" must not prevent the stop.
        }

        _stop.Cancel();
    }
}
