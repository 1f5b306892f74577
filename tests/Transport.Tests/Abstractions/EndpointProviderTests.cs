namespace Transport.Tests.Abstractions;

public sealed class EndpointProviderTests
{
    private static readonly Uri A = new("wss://a.example/ws");
    private static readonly Uri B = new("wss://b.example/ws");
    private static readonly Uri C = new("wss://c.example/ws");

    [Fact]
    public async Task Failover_walks_the_configured_order_within_a_cycle_and_wraps()
    {
        var chosen = new List<Uri>();
        for (var attemptInCycle = 1; attemptInCycle <= 5; attemptInCycle++)
        {
            var endpoint = await EndpointProviders.Failover.GetEndpointAsync(new EndpointContext(attemptInCycle, attemptInCycle, 0, false, [A, B, C], null), CancellationToken.None);
            chosen.Add(endpoint.Uri);
        }

        Assert.Equal([A, B, C, A, B], chosen);
    }

    [Fact]
    public async Task A_new_cycle_starts_again_at_the_primary()
    {
        var endpoint = await EndpointProviders.Failover.GetEndpointAsync(new EndpointContext(9, 1, 3, true, [A, B, C], null), CancellationToken.None);

        Assert.Equal(A, endpoint.Uri);
    }
}
