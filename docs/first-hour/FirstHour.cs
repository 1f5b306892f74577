#:project ../../src/Transport.WebSockets/Transport.WebSockets.csproj
#:package Microsoft.Extensions.Hosting
// What a new user's app sees, as the transcripts in docs/first-hour.md show it. Run with .NET 10:
//   dotnet run docs/first-hour/FirstHour.cs -- connect ws://127.0.0.1:5005/wrong
//   dotnet run docs/first-hour/FirstHour.cs -- health ws://127.0.0.1:5005/ws
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Transport;
using Transport.WebSockets;

if (args is not [("connect" or "health") and var mode, var uri])
{
    Console.Error.WriteLine("usage: FirstHour connect|health ws://host:port/path");
    return 2;
}

if (mode == "connect")
{
    // ConnectAsync completes when connected, or throws with the last error.
    var connector = new WebSocketTransportBuilder().Configure(o => o.WithUri(uri)).Build();
    try
    {
        await using var conn = await connector.ConnectAsync(TimeSpan.FromSeconds(10));
        Console.WriteLine($"connected: {conn.Lifecycle.Current}");
        return 0;
    }
    catch (Exception ex) when (ex is TransportException or OperationCanceledException)
    {
        Console.WriteLine($"{ex.GetType().Name}: {ex.Message}");
        return 1;
    }
}

// The host owns a named connection and reports its health; printed here as a /health endpoint would report it.
var builder = Host.CreateApplicationBuilder();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddWebSocketTransport("venue", o => o.Uri = new Uri(uri)).AddHostedConnection();
builder.Services.AddHealthChecks().AddWebSocketConnection("venue");
using var host = builder.Build();
await host.StartAsync();
var health = host.Services.GetRequiredService<HealthCheckService>();
for (var i = 0; i < 4; i++)
{
    await Task.Delay(TimeSpan.FromSeconds(2));
    var report = await health.CheckHealthAsync();
    foreach (var (name, entry) in report.Entries)
    {
        Console.WriteLine($"{entry.Status} {name}: {entry.Description}");
        Console.WriteLine("  data: " + string.Join(", ", entry.Data.Select(kv => $"{kv.Key}={kv.Value}")));
    }
}

await host.StopAsync();
return 0;
