using Microsoft.Extensions.Hosting;

namespace VenueSimulator.Hosting;

/// <summary>
/// The simulator's Kestrel host does not own process signals. The default lifetime
/// (<c>ConsoleLifetime</c>) registers SIGINT, SIGQUIT and SIGTERM, swallows them and only raises
/// <c>ApplicationStopping</c>, which nothing in a host started with <c>StartAsync</c> waits on: a
/// process embedding the simulator (the console subscriber) then ignored SIGTERM. The program that
/// embeds the host decides what a signal means (<see cref="StopSignals"/>).
/// </summary>
internal sealed class HostWithoutSignals : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
