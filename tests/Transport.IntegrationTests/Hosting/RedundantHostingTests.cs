using System.Buffers.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Transport.Testing;
using Transport.WebSockets.Legs;

namespace Transport.IntegrationTests.Hosting;

/// <summary>
/// AddRedundantConnection inside a Generic Host over a loopback server: the legs are connections of the named
/// transport, the options are validated at start naming the field, the merged source delivers each keyed frame once.
/// </summary>
public sealed class RedundantHostingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    // "T:n" is keyed (topic T, seq n); anything else is not.
    private static readonly FrameKeySelector Keys = static (in Frame frame, out DedupeKey key) =>
    {
        var bytes = frame.Payload.Span;
        if (bytes.Length > 2 && bytes[0] == (byte)'T' && bytes[1] == (byte)':' && Utf8Parser.TryParse(bytes[2..], out long seq, out _))
        {
            key = new DedupeKey(DedupeKey.StreamOf("T"), seq);
            return true;
        }

        key = default;
        return false;
    };

    [Fact]
    public async Task Host_starts_a_redundant_connection_whose_legs_share_the_transport_and_whose_source_dedupes()
    {
        await using var server = await LoopbackServer.StartAsync(async session =>
        {
            await session.AcceptAsync();
            for (int seq = 1; seq <= 5; seq++)
            {
                await session.SendAsync($"T:{seq}");
            }

            await session.WaitForCloseAsync();
        });
        using var host = BuildHost(server.WebSocketUri, "feed", _ => new RedundantConnectionOptions
        {
            KeySelector = Keys,
            Legs = [new LegOptions { Name = "a" }, new LegOptions { Name = "b" }],
        });
        await host.StartAsync().WaitAsync(Bound);

        var legs = host.Services.GetRequiredKeyedService<RedundantConnection>("legs");
        Assert.Same(legs, host.Services.GetRequiredKeyedService<RedundantConnection>("legs"));
        Assert.Equal("legs", legs.Name);
        var merged = new List<string>();
        using var cts = new CancellationTokenSource(Bound);
        while (merged.Count < 5)
        {
            Assert.True(await legs.Source.WaitToReadAsync(cts.Token));
            while (legs.Source.TryRead(out var frame))
            {
                merged.Add(frame.GetText());
            }
        }

        while (legs.Current.Duplicates < 5)
        {
            await Task.Delay(10, cts.Token);               // the second leg's copies: counted, never delivered
        }

        Assert.False(legs.Source.TryRead(out _));
        Assert.Equal(["T:1", "T:2", "T:3", "T:4", "T:5"], merged);
        Assert.Equal(2, server.ConnectionCount);
        Assert.Equal(["a", "b"], legs.Legs.Select(l => l.Name));
        await host.StopAsync().WaitAsync(Bound);
        await legs.DisposeAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(ConnectionPhase.Closed, legs.Lifecycle.Current.Phase);
    }

    [Theory]
    [InlineData("feed", "RedundantConnectionOptions.Legs[1].Name 'x' is used by another leg")]
    [InlineData("other", "no WebSocket transport named 'other' is registered")]
    public async Task Invalid_options_or_an_unknown_transport_fail_host_start_naming_the_field(string transport, string expected)
    {
        using var host = BuildHost(new Uri("ws://127.0.0.1:1/ws"), transport, _ => new RedundantConnectionOptions
        {
            KeySelector = Keys,
            Legs = [new LegOptions { Name = "x" }, new LegOptions { Name = "x" }],
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().WaitAsync(Bound));

        Assert.Equal("legs", error.OptionsName);
        Assert.Contains(error.Failures, f => f.Contains(expected, StringComparison.Ordinal) && f.Contains("'legs'", StringComparison.Ordinal));
    }

    private static IHost BuildHost(Uri uri, string transport, Func<IServiceProvider, RedundantConnectionOptions> options)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Transports:feed:Uri"] = uri.ToString(),
            ["Transports:feed:CloseTimeout"] = "00:00:01",
        });
        builder.Services.AddWebSocketTransport("feed").BindConfiguration(builder.Configuration.GetSection("Transports:feed"));
        builder.Services.AddRedundantConnection("legs", transport, options);
        return builder.Build();
    }
}
