using System.Net.Sockets;
using VenueSimulator.Hosting;

namespace VenueSimulator;

/// <summary>
/// Runs the simulator until Ctrl+C or SIGTERM:
/// <c>dotnet run --project samples/VenueSimulator -- --port 5005 --topics BTC-USD,ETH-USD --chaos</c>.
/// Exit codes (also in <c>--help</c>): 0 stopped by Ctrl+C or SIGTERM (or <c>--help</c>), 1 could not
/// listen (the port is taken), 2 bad arguments (the error goes to stderr).
/// </summary>
internal static class Program
{
    /// <summary>Stopped by Ctrl+C or SIGTERM after closing every connection (or --help).</summary>
    public const int ExitOk = 0;

    /// <summary>The server could not start (for example the port is already in use).</summary>
    public const int ExitCannotListen = 1;

    /// <summary>Bad arguments: the error and the usage went to stderr.</summary>
    public const int ExitUsage = 2;

    /// <summary>How long open connections get to answer the close frame when stopping.</summary>
    private static readonly TimeSpan CloseBound = TimeSpan.FromSeconds(5);

    public static async Task<int> Main(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(SimulatorCommandLine.Usage);
            return ExitOk;
        }

        if (!SimulatorCommandLine.TryParse(args, out var options, out var error))
        {
            Console.Error.WriteLine($"error: {error}");
            Console.Error.WriteLine(SimulatorCommandLine.Usage);
            return ExitUsage;
        }
        if (!args.Contains("--quiet")) options.Log = line => Console.WriteLine($"{DateTime.Now:HH:mm:ss.fff} {line}");

        // The program owns Ctrl+C and SIGTERM (docker stop, systemd, timeout): both stop gracefully.
        using var signals = StopSignals.Register(s => Console.WriteLine($"{StopSignals.Describe(s)}: stopping (close 1001 to every client, then exit; Ctrl+C again to end at once)"));

        VenueSimulatorHost host;
        try
        {
            host = await VenueSimulatorHost.StartAsync(options, signals.Token);
        }
        catch (IOException ex) when (ex.InnerException is SocketException or null)
        {
            Console.Error.WriteLine($"error: cannot listen on 127.0.0.1:{options.Port}: {ex.Message}");
            return ExitCannotListen;
        }
        catch (OperationCanceledException)
        {
            return ExitOk; // stopped while starting
        }

        Console.WriteLine($"VenueSimulator listening on {host.WebSocketUri}  topics: {string.Join(",", options.Topics)}"
            + (options.Chaos.Enabled ? "  chaos: on" : string.Empty)
            + (options.ExpectedToken is null ? string.Empty : "  auth: token required"));
        Console.WriteLine("Ctrl+C or SIGTERM to stop.");
        try
        {
            await Task.Delay(Timeout.Infinite, signals.Token);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C or SIGTERM.
        }

        var open = host.Stats.ActiveConnections;
        var left = await host.StopAsync(CloseBound);
        Console.WriteLine($"stopped: closed {open - left} of {open} connection(s) with a close handshake; {host.Stats}");
        return ExitOk;
    }
}
