using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Hosting;

/// <summary>
/// Issue #21: <c>Session:Lifetime</c> and <c>Session:RotateBefore</c> bind from configuration, and a bad
/// pair fails validation naming the field, as <c>WithSessionLifetime</c> does.
/// </summary>
public sealed class SessionLifetimeConfigurationTests
{
    [Fact]
    public void Session_lifetime_and_rotation_lead_bind_from_configuration()
    {
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed").BindConfiguration(Section(new()
        {
            ["Uri"] = "ws://127.0.0.1:1/ws",
            ["Session:Lifetime"] = "1.00:00:00",
            ["Session:RotateBefore"] = "00:05:00",
        }));
        using var provider = services.BuildServiceProvider();

        var connector = (ReconnectingConnector)provider.GetRequiredService<IReconnectingConnectorFactory>().Get("feed");

        Assert.Equal(TimeSpan.FromHours(24), connector.Options.Session.Lifetime);
        Assert.Equal(TimeSpan.FromMinutes(5), connector.Options.Session.RotateBefore);
    }

    [Theory]
    [InlineData("00:00:20", "00:00:20", "Session.RotateBefore: must be < Session.Lifetime (00:00:20).")]
    [InlineData("00:00:00", null, "Session.Lifetime: must be positive when set.")]
    [InlineData(null, "00:05:00", "Session.RotateBefore: requires Session.Lifetime.")]
    public void A_bad_lifetime_fails_validation_naming_the_field(string? lifetime, string? rotateBefore, string message)
    {
        var services = new ServiceCollection();
        services.AddWebSocketTransport("feed").BindConfiguration(Section(new()
        {
            ["Uri"] = "ws://127.0.0.1:1/ws",
            ["Session:Lifetime"] = lifetime,
            ["Session:RotateBefore"] = rotateBefore,
        }));
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IReconnectingConnectorFactory>().Get("feed"));

        Assert.Contains($"WebSocket transport 'feed': {message}", error.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Section(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
