using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using TradingAdapters.ListenKey;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Samples.Tests.ListenKey;

/// <summary>
/// The venue's REST side, mocked with WireMock.Net: POST /api/v3/userDataStream issues KEY-1, KEY-2, ...
/// (only with the right API key), PUT answers 200 until a test makes it refuse. Plus the client side as
/// an application wires it: IHttpClientFactory with a named client, fake logging (every log line of the
/// source and of the HTTP client), a FakeTimeProvider driving the keep-alive timer, and the source's events.
/// </summary>
internal sealed class ListenKeyVenue : IAsyncDisposable
{
    public const string Path = "/api/v3/userDataStream";
    public const string ApiKey = "APIKEY-very-secret-91c2";
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private readonly ServiceProvider _services;
    private readonly Channel<ListenKeyEvent> _events = Channel.CreateUnbounded<ListenKeyEvent>();
    private int _issued;

    public ListenKeyVenue()
    {
        Server = WireMockServer.Start();
        Server.Given(Request.Create().WithPath(Path).UsingPost().WithHeader("X-MBX-APIKEY", ApiKey))
            .AtPriority(10)
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(_ => new { listenKey = $"KEY-{Interlocked.Increment(ref _issued)}" }));
        Server.Given(Request.Create().WithPath(Path).UsingPost())
            .AtPriority(20)
            .RespondWith(Response.Create().WithStatusCode(401).WithBodyAsJson(new { code = -2015, msg = "Invalid API-key." }));
        Server.Given(Request.Create().WithPath(Path).UsingPut().WithHeader("X-MBX-APIKEY", ApiKey))
            .AtPriority(10)
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { }));

        var services = new ServiceCollection();
        services.AddLogging(b => b.AddFakeLogging().SetMinimumLevel(LogLevel.Trace));
        services.AddListenKeyHttpClient("venue-rest", new Uri(Server.Url!.TrimEnd('/') + "/"));
        _services = services.BuildServiceProvider();
        Source = new ListenKeySource(
            _services.GetRequiredService<IHttpClientFactory>(),
            Options,
            Clock,
            _services.GetRequiredService<ILogger<ListenKeySource>>());
        Source.Changed += e => _events.Writer.TryWrite(e);
    }

    public WireMockServer Server { get; }

    public FakeTimeProvider Clock { get; } = new();

    public ListenKeyOptions Options { get; } = new()
    {
        HttpClientName = "venue-rest",
        ApiKey = () => ApiKey,
        StreamBaseUri = new Uri("wss://stream.venue.example:9443/ws"),
        KeepAliveInterval = TimeSpan.FromMinutes(30),
        KeyLifetime = TimeSpan.FromMinutes(60),
    };

    public ListenKeySource Source { get; }

    public ILoggerFactory Loggers => _services.GetRequiredService<ILoggerFactory>();

    /// <summary>Every log line written so far (the source's, the HTTP client's, and anything else logged through <see cref="Loggers"/>).</summary>
    public IReadOnlyList<FakeLogRecord> Logs => _services.GetRequiredService<FakeLogCollector>().GetSnapshot();

    public int Posts => Server.LogEntries.Count(e => e.RequestMessage.Method == "POST");

    public IReadOnlyList<string> PutBodies => [.. Server.LogEntries.Where(e => e.RequestMessage.Method == "PUT").Select(e => e.RequestMessage.Body ?? string.Empty)];

    /// <summary>From now on every keep-alive PUT is answered <paramref name="status"/>.</summary>
    public void RefuseKeepAlive(int status) =>
        Server.Given(Request.Create().WithPath(Path).UsingPut()).AtPriority(1).RespondWith(Response.Create().WithStatusCode(status).WithBodyAsJson(new { code = -1125, msg = "This listenKey does not exist." }));

    /// <summary>From now on every POST is answered <paramref name="status"/> (with Retry-After when given).</summary>
    public void RefuseObtain(int status, string? retryAfter = null)
    {
        var response = Response.Create().WithStatusCode(status);
        if (retryAfter is not null)
        {
            response = response.WithHeader("Retry-After", retryAfter);
        }

        Server.Given(Request.Create().WithPath(Path).UsingPost()).AtPriority(1).RespondWith(response);
    }

    /// <summary>The next event the source raised (bounded wait: the HTTP round trip is real I/O).</summary>
    public async Task<ListenKeyEvent> NextEventAsync()
    {
        using var bound = new CancellationTokenSource(Bound);
        return await _events.Reader.ReadAsync(bound.Token);
    }

    /// <summary>Advances the fake clock by <paramref name="by"/> and returns the event the keep-alive tick caused.</summary>
    public async Task<ListenKeyEvent> TickAsync(TimeSpan by)
    {
        Clock.Advance(by);
        return await NextEventAsync();
    }

    public bool HasPendingEvent => _events.Reader.TryPeek(out _);

    /// <summary>Asserts neither key nor API key appears in any log line (message or structured value) or in <paramref name="texts"/>.</summary>
    public void AssertNoSecrets(params string?[] texts)
    {
        var keys = Enumerable.Range(1, Volatile.Read(ref _issued)).Select(n => $"KEY-{n}").Append(ApiKey).ToList();
        foreach (var record in Logs)
        {
            var state = string.Join(" ", record.StructuredState?.Select(kv => kv.Value) ?? []);
            foreach (var key in keys)
            {
                Assert.False(record.Message.Contains(key, StringComparison.Ordinal) || state.Contains(key, StringComparison.Ordinal), $"A secret was logged by {record.Category}: {record.Message}");
            }
        }

        foreach (var text in texts)
        {
            foreach (var key in keys)
            {
                Assert.DoesNotContain(key, text ?? string.Empty, StringComparison.Ordinal);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Source.DisposeAsync();
        await _services.DisposeAsync();
        Server.Stop();
        Server.Dispose();
    }
}
