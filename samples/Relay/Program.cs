using System.Runtime.InteropServices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using RelaySample;
using Transport;
using Transport.Nats;
using Transport.WebSockets;
using VenueSimulator;

// The gateway: holds the venue connection (only while it holds the feed's lease) and publishes it to NATS.
//   dotnet run --project samples/Relay -- --nats nats://127.0.0.1:4222 --feed sim
// Output lines (stdout, one per event, for people and for tests): ROLE <role> gen=<n>, ACKED <relay sequence>,
// STATUS <relay snapshot>. Ctrl+C or SIGTERM stops gracefully (publishes what it read, releases the lease).
if (!GatewayCommandLine.TryParse(args, out var parsed, out var usage))
{
    Console.Error.WriteLine(usage);
    return args.Contains("--help") || args.Contains("-h") ? 0 : 2;
}

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

// NATS options bound from configuration: relay.json (optional), RELAY__* environment variables, then the flags.
var configuration = new ConfigurationBuilder()
    .AddJsonFile("relay.json", optional: true)
    .AddEnvironmentVariables("RELAY__")
    .AddInMemoryCollection(parsed.Config)
    .Build();
NatsRelayOptions options;
try
{
    var section = configuration.GetSection("Relay");
    if (section["Feed"] is null)
    {
        configuration["Relay:Feed"] = "sim";
    }

    options = NatsRelayOptions.FromConfiguration(configuration.GetSection("Relay"));
}
catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
{
    Console.Error.WriteLine("error: " + ex.Message);
    return 2;
}

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning)
    .AddFilter("Transport.Nats", LogLevel.Information));
var output = TextWriter.Synchronized(Console.Out);

await using var simulator = parsed.Venue is null
    ? await VenueSimulatorHost.StartAsync(new SimulatorOptions { Topics = [.. parsed.Topics], TickInterval = TimeSpan.FromMilliseconds(parsed.TickMs), Seed = 1 })
    : null;
var venue = parsed.Venue ?? simulator!.WebSocketUri;
options.VenueEndpoint = venue.ToString();
output.WriteLine($"relay {options.EffectiveRelayId}: feed {options.Feed} from {Redaction.RedactUri(venue)} to {options.Nats}");

var subscribe = $$"""{"op":"subscribe","topics":[{{string.Join(",", parsed.Topics.Select(t => "\"" + t + "\""))}}],"id":1}""";
var connector = new WebSocketTransportBuilder()
    .Configure(o => o.WithUri(venue).WithName(options.Feed).WithCloseTimeout(TimeSpan.FromSeconds(1)))
    .WithSessionInitializer(async (session, token) => await session.Sink.SendTextAsync(subscribe, cancellationToken: token))
    .WithLoggerFactory(loggers)
    .Build();

await using var relay = new NatsRelay(
    options,
    async token => RelayInput.FromConnection(await connector.ConnectAsync(token)),
    FrameKeys.Topic,
    loggers);

var watcher = WatchAsync(relay, output, parsed, stop.Token);
int code = 0;
try
{
    await relay.RunAsync(stop.Token);
}
catch (TransportException ex)
{
    output.WriteLine($"error: {ex.Kind}: {ex.Message}");
    code = ex.Kind == TransportErrorKind.Configuration ? 2 : 1;
}

await stop.CancelAsync();
await watcher;
output.WriteLine($"STOPPED {relay.Current}");
return code;

static async Task WatchAsync(NatsRelay relay, TextWriter output, GatewayCommandLine.Parsed parsed, CancellationToken stop)
{
    var role = (RelayRole)(-1);
    long acked = -1;
    long nextStatus = Environment.TickCount64 + parsed.StatusMs;
    try
    {
        while (!stop.IsCancellationRequested)
        {
            var now = relay.Current;
            if (now.Role != role)
            {
                role = now.Role;
                output.WriteLine($"ROLE {role} gen={now.Generation}");
            }

            if (now.LastAcknowledgedSequence != acked)
            {
                acked = now.LastAcknowledgedSequence;
                output.WriteLine($"ACKED {acked}");
            }

            if (!parsed.Quiet && parsed.StatusMs > 0 && Environment.TickCount64 >= nextStatus)
            {
                nextStatus = Environment.TickCount64 + parsed.StatusMs;
                output.WriteLine($"STATUS {now}");
            }

            output.Flush();
            await Task.Delay(50, stop);
        }
    }
    catch (OperationCanceledException)
    {
    }
}
