using System.Globalization;
using NATS.Client.Core;

namespace Transport.Nats.Relay;

/// <summary>
/// The relay's publish connection for one stretch of healthy bus: a NATS connection that does not reconnect by
/// itself, with one reply subscription that receives every JetStream acknowledgement (so publishes go out
/// back to back, batched by the client's writer, and acks are matched by the sequence in the reply subject).
/// When it fails it is discarded with anything NATS.Net still buffered; the relay opens a new one and resends
/// every unacknowledged frame, in order.
/// </summary>
internal sealed class PublishLink : IAsyncDisposable
{
    private static readonly NatsRawSerializer<ReadOnlyMemory<byte>> RawMemory = NatsRawSerializer<ReadOnlyMemory<byte>>.Default;
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    private readonly NatsConnection _connection;
    private readonly INatsSub<byte[]> _acks;
    private readonly string _prefix;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _ackLoop;
    private int _dead;

    private PublishLink(NatsConnection connection, INatsSub<byte[]> acks, string prefix, RelaySession session)
    {
        _connection = connection;
        _acks = acks;
        _prefix = prefix;
        _connection.ConnectionDisconnected += (_, _) =>
        {
            MarkDead();
            session.OnLinkLost();
            return ValueTask.CompletedTask;
        };
        _ackLoop = Task.Run(() => AckLoopAsync(session, _stop.Token));
    }

    public bool IsDead => Volatile.Read(ref _dead) == 1 || _connection.ConnectionState != NatsConnectionState.Open;

    public static async Task<PublishLink> OpenAsync(NatsRelayOptions options, string relayId, RelaySession session, CancellationToken cancellationToken)
    {
        var opts = options.Nats.ToNatsOpts("transport-relay-publish-" + relayId) with
        {
            MaxReconnectRetry = 0,
            SubPendingChannelCapacity = (options.MaxInFlight * 2) + 64,
        };
        var connection = new NatsConnection(opts);
        try
        {
            await connection.ConnectAsync().AsTask().WaitAsync(options.Nats.ConnectTimeout + options.Nats.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            var prefix = "_TRANSPORT_ACK." + Guid.NewGuid().ToString("N");
            var acks = await connection.SubscribeCoreAsync(
                prefix + ".*",
                serializer: Raw,
                opts: new NatsSubOpts { ChannelOpts = new NatsSubChannelOpts { Capacity = (options.MaxInFlight * 2) + 64, FullMode = System.Threading.Channels.BoundedChannelFullMode.Wait } },
                cancellationToken: cancellationToken).ConfigureAwait(false);
            return new PublishLink(connection, acks, prefix, session);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public void MarkDead() => Volatile.Write(ref _dead, 1);

    public ValueTask PublishAsync(string subject, ReadOnlyMemory<byte> payload, NatsHeaders headers, long sequence, CancellationToken cancellationToken) =>
        _connection.PublishAsync(subject, payload, headers, _prefix + "." + sequence.ToString(CultureInfo.InvariantCulture), RawMemory, cancellationToken: cancellationToken);

    public async ValueTask DisposeAsync()
    {
        MarkDead();
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _ackLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            await _acks.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (NatsBus.IsTransient(ex) || ex is ObjectDisposedException)
        {
        }

        await _connection.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task AckLoopAsync(RelaySession session, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in _acks.Msgs.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                var subject = message.Subject;
                int dot = subject.LastIndexOf('.');
                if (dot < 0 || !long.TryParse(subject.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long sequence))
                {
                    continue;
                }

                session.OnAck(sequence, PubAck.Parse(message.Data ?? [], message.HasNoResponders ? 503 : message.Headers?.Code ?? 0));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (NatsBus.IsTransient(ex) || ex is System.Threading.Channels.ChannelClosedException)
        {
            MarkDead();
            session.OnLinkLost();
        }
    }
}
