using System.Collections.Concurrent;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Transport.Mock;

namespace Transport.Nats.Tests.Infrastructure;

/// <summary>
/// A relay in process over <see cref="FakeReconnectingConnection"/>s (one per active period, opened by the
/// relay's factory), against a real nats-server, with short lease timings.
/// </summary>
public sealed class RelayHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<FakeReconnectingConnection> _opened = new();

    public RelayHarness(string url, string feed, string relayId = "r1", Action<NatsRelayOptions>? configure = null, Func<Frame, string?>? keySelector = null)
    {
        Options = Harness.RelayOptions(url, feed, relayId);
        configure?.Invoke(Options);
        Relay = new NatsRelay(Options, _ =>
        {
            var fake = new FakeReconnectingConnection(relayId);
            _opened.Enqueue(fake);
            return ValueTask.FromResult(RelayInput.FromConnection(fake.Connection));
        }, keySelector);
        Running = Relay.RunAsync(_stop.Token);
    }

    public NatsRelayOptions Options { get; }

    public NatsRelay Relay { get; }

    public Task Running { get; }

    /// <summary>The venue connections the relay opened, oldest first.</summary>
    public IReadOnlyList<FakeReconnectingConnection> Opened => [.. _opened];

    /// <summary>Waits until the relay is active and returns its (newest) venue connection, up.</summary>
    public async Task<FakeReconnectingConnection> ActiveAsync(TimeSpan? bound = null)
    {
        await Relay.WaitAsync(s => s.Role == RelayRole.Active, CancellationToken.None).AsTask().WaitAsync(bound ?? TimeSpan.FromSeconds(30));
        await TestSetup.EventuallyAsync(() => !_opened.IsEmpty, TimeSpan.FromSeconds(10), () => "no venue connection opened");
        var fake = _opened.Last();
        if (!fake.Current.IsUp)
        {
            fake.GoUp();
        }

        return fake;
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Running.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception ex) when (ex is OperationCanceledException or TransportException)
        {
            // Stopped, or the input ended with its error (a test asserts that where it matters).
        }
    }

    /// <summary>Waits until <paramref name="predicate"/> holds for the relay's snapshot; the failure shows the last one.</summary>
    public async Task<RelaySnapshot> WaitAsync(Func<RelaySnapshot, bool> predicate, string what, TimeSpan? bound = null)
    {
        try
        {
            return await Relay.WaitAsync(predicate).AsTask().WaitAsync(bound ?? Harness.Bound);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Relay: not {what} within {bound ?? Harness.Bound}: {Relay.Current}");
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await Relay.DisposeAsync();
        _stop.Dispose();
    }
}

public static class Harness
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>Short lease timings for tests: renew 200 ms, fence 800 ms, ttl 1.6 s, check 100 ms.</summary>
    public static NatsRelayOptions RelayOptions(string url, string feed, string relayId) => new()
    {
        Feed = feed,
        RelayId = relayId,
        Nats = new NatsConnectionOptions { Url = url, RequestTimeout = TimeSpan.FromSeconds(2), ConnectTimeout = TimeSpan.FromSeconds(2) },
        Stream = new NatsStreamSettings { MaxAge = TimeSpan.FromMinutes(10) },
        Lease = new NatsLeaseOptions
        {
            RenewInterval = TimeSpan.FromMilliseconds(200),
            FenceAfter = TimeSpan.FromMilliseconds(800),
            Ttl = TimeSpan.FromMilliseconds(1600),
            CheckInterval = TimeSpan.FromMilliseconds(100),
        },
        AckTimeout = TimeSpan.FromSeconds(2),
        RetryDelay = TimeSpan.FromMilliseconds(100),
        LifecycleInterval = TimeSpan.FromMilliseconds(100),
    };

    public static NatsFeedOptions FeedOptions(string url, string feed) => new()
    {
        Feed = feed,
        Nats = new NatsConnectionOptions { Url = url, ConnectTimeout = TimeSpan.FromSeconds(2) },
        CheckInterval = TimeSpan.FromMilliseconds(50),
    };

    /// <summary>One stored message of a feed's stream.</summary>
    public sealed record Stored(ulong StreamSequence, string Subject, NatsHeaders Headers, byte[] Data)
    {
        public long RelaySequence => long.Parse(Headers[RelayHeaders.Sequence].ToString(), System.Globalization.CultureInfo.InvariantCulture);

        public long Epoch => long.Parse(Headers[RelayHeaders.Epoch].ToString(), System.Globalization.CultureInfo.InvariantCulture);

        public long Generation => long.Parse(Headers[RelayHeaders.Generation].ToString(), System.Globalization.CultureInfo.InvariantCulture);

        public long Lagged => long.Parse(Headers[RelayHeaders.Lagged].ToString(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Every message of the feed's stream now (an ordered consumer from the start).</summary>
    public static async Task<List<Stored>> ReadStreamAsync(string url, NatsFeedLayout layout)
    {
        await using var nats = new NatsConnection(new NatsOpts { Url = url });
        await nats.ConnectAsync();
        var js = new NatsJSContext(nats);
        var stream = await js.GetStreamAsync(layout.StreamName);
        ulong last = stream.Info.State.LastSeq;
        var result = new List<Stored>();
        if (stream.Info.State.Messages == 0)
        {
            return result;
        }

        var consumer = await js.CreateOrderedConsumerAsync(layout.StreamName);
        using var bound = new CancellationTokenSource(Bound);
        await foreach (var message in consumer.ConsumeAsync(NatsRawSerializer<byte[]>.Default, cancellationToken: bound.Token))
        {
            var seq = message.Metadata!.Value.Sequence.Stream;
            result.Add(new Stored(seq, message.Subject, message.Headers!, message.Data ?? []));
            if (seq >= last)
            {
                break;
            }
        }

        return result;
    }
}
