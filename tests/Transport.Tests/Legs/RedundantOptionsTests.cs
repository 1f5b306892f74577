using Transport.WebSockets.Legs;

namespace Transport.Tests.Legs;

/// <summary>Bad options fail at construction, naming the field.</summary>
public sealed class RedundantOptionsTests
{
    private static readonly LegOptions A = new() { Name = "a" };

    public static TheoryData<string, RedundantConnectionOptions> Invalid => new()
    {
        { "RedundantConnectionOptions.Name", new() { Name = " " } },
        { "RedundantConnectionOptions.Legs must hold 1 to 16", new() { Legs = [] } },
        { "RedundantConnectionOptions.Legs must hold 1 to 16", new() { Legs = [.. Enumerable.Range(0, 17).Select(i => new LegOptions { Name = $"l{i}" })] } },
        { "RedundantConnectionOptions.Legs[1].Name 'a' is used by another leg", new() { Legs = [A, A] } },
        { "RedundantConnectionOptions.Legs[0].Name must be a non-empty name", new() { Legs = [new LegOptions { Name = "a b" }] } },
        { "RedundantConnectionOptions.Legs[1].Uri must be an absolute ws://", new() { Legs = [A, new LegOptions { Uri = new Uri("http://x.test/") }] } },
        { "RedundantConnectionOptions.Legs[0].FailoverUris[0] must be an absolute ws://", new() { Legs = [new LegOptions { Uri = new Uri("ws://x.test/"), FailoverUris = [new Uri("/relative", UriKind.Relative)] }] } },
        { "RedundantConnectionOptions.Legs[0].FailoverUris needs", new() { Legs = [new LegOptions { FailoverUris = [new Uri("ws://y.test/")] }] } },
        { "RedundantConnectionOptions.Dedupe.MaxKeys", new() { Dedupe = new DedupeWindowOptions { MaxKeys = 0 } } },
        { "RedundantConnectionOptions.Dedupe.MaxAge", new() { Dedupe = new DedupeWindowOptions { MaxAge = TimeSpan.Zero } } },
        { "RedundantConnectionOptions.Unkeyed is All but there is no KeySelector", new() { Unkeyed = UnkeyedFramePolicy.All } },
        { "RedundantConnectionOptions.Unkeyed must be", new() { Unkeyed = (UnkeyedFramePolicy)7, KeySelector = TextKeys.Selector } },
        { "RedundantConnectionOptions.MergedCapacityFrames", new() { MergedCapacityFrames = 0 } },
        { "RedundantConnectionOptions.MergedCapacityBytes", new() { MergedCapacityBytes = 0 } },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Invalid_options_fail_naming_the_field(string message, RedundantConnectionOptions options)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => options.Validate(new TransportOptions { Uri = new Uri("ws://venue.test/ws") }));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void More_legs_than_the_attempt_cap_fails_naming_Legs()
    {
        var connector = new TransportOptions { Uri = new Uri("ws://venue.test/ws") };
        connector.Reconnect.MaxAttemptsPerWindow = 1;
        var error = Assert.ThrowsAny<ArgumentException>(() => new RedundantConnectionOptions().Validate(connector));
        Assert.Contains("RedundantConnectionOptions.Legs (2) exceeds the connector's Reconnect.MaxAttemptsPerWindow (1)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_are_two_legs_primary_only_and_the_default_window()
    {
        var options = new RedundantConnectionOptions();
        Assert.Equal(2, options.Legs.Count);
        Assert.Equal(("leg0", "leg1"), (options.LegName(0), options.LegName(1)));
        Assert.Equal(UnkeyedFramePolicy.PrimaryOnly, options.Unkeyed);
        Assert.Equal(new DedupeWindowOptions(), options.Dedupe);
        options.Validate(new TransportOptions { Uri = new Uri("ws://venue.test/ws") });
    }
}
