using VenueSimulator.Hosting;

namespace VenueSimulator;

/// <summary>
/// Runs the simulator until Ctrl+C:
/// <c>dotnet run --project samples/VenueSimulator -- --port 5005 --topics BTC-USD,ETH-USD --chaos</c>
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var quiet = args.Contains("--quiet");
        if (!SimulatorCommandLine.TryParse(args, out var options, out var error))
        {
            Console.Error.WriteLine(error);
            return args.Contains("--help") || args.Contains("-h") ? 0 : 2;
        }
        if (!quiet) options.Log = line => Console.WriteLine($"{DateTime.Now:HH:mm:ss.fff} {line}");

        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true; // let us dispose cleanly instead of the runtime killing the process
            stop.Cancel();
        };

        await using var host = await VenueSimulatorHost.StartAsync(options, stop.Token);
        Console.WriteLine($"VenueSimulator listening on {host.WebSocketUri}  topics: {string.Join(",", options.Topics)}"
            + (options.Chaos.Enabled ? "  chaos: on" : string.Empty)
            + (options.ExpectedToken is null ? string.Empty : "  auth: token required"));
        Console.WriteLine("Ctrl+C to stop.");
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C.
        }
        Console.WriteLine($"stopping: {host.Stats}");
        return 0;
    }
}
