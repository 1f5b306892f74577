using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;
using Transport.Nats.Feeds;

namespace Transport.Nats.Failover;

/// <summary>The lease, once acquired.</summary>
/// <param name="Generation">The lease generation: +1 at every takeover (frames carry it).</param>
/// <param name="Revision">The KV revision this relay wrote.</param>
/// <param name="SentAt">When the acquiring write was sent (monotonic offset): the fence deadline counts from it.</param>
/// <param name="Previous">The record it replaced; null for a new lease.</param>
internal sealed record LeaseGrant(long Generation, ulong Revision, TimeSpan SentAt, LeaseRecord? Previous);

/// <summary>Why holding the lease ended.</summary>
internal enum LeaseLoss
{
    /// <summary>No renewal succeeded for FenceAfter.</summary>
    Expired,

    /// <summary>Another relay wrote the lease (a renewal's compare-and-set failed).</summary>
    TakenOver,
}

/// <summary>
/// Acquires, renews and releases a feed's lease in the KV bucket, following <see cref="LeaseClock"/>'s rules.
/// </summary>
internal sealed class LeaseKeeper
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    private readonly INatsKVStore _kv;
    private readonly string _key;
    private readonly NatsLeaseOptions _options;
    private readonly string _holder;
    private readonly string? _endpoint;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly long _start;

    public LeaseKeeper(INatsKVStore kv, string key, NatsLeaseOptions options, string holder, string? endpoint, TimeProvider time, ILogger logger)
    {
        _kv = kv;
        _key = key;
        _options = options;
        _holder = holder;
        _endpoint = endpoint;
        _time = time;
        _logger = logger;
        _start = time.GetTimestamp();
    }

    private TimeSpan Now => _time.GetElapsedTime(_start);

    /// <summary>Waits as a standby until this relay holds the lease (Lease.L1).</summary>
    public async Task<LeaseGrant> AcquireAsync(CancellationToken cancellationToken)
    {
        var clock = new LeaseClock(_options.Ttl, _options.FenceAfter);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var (entry, record) = await ReadAsync(cancellationToken).ConfigureAwait(false);
                var now = Now;
                clock.Observe(entry?.Revision ?? 0, record?.Released ?? false, now);
                if (clock.MayTakeOver(now))
                {
                    long generation = (record?.Generation ?? 0) + 1;
                    var sentAt = Now;
                    var value = FeedJsonContext.Serialize(Record(generation, released: false));
                    ulong revision = entry is null
                        ? await _kv.CreateAsync(_key, value, Raw, cancellationToken).ConfigureAwait(false)
                        : await _kv.UpdateAsync(_key, value, entry.Value.Revision, Raw, cancellationToken).ConfigureAwait(false);
                    NatsLog.LeaseAcquired(_logger, _key, generation, record?.Holder ?? "(none)");
                    return new LeaseGrant(generation, revision, sentAt, record);
                }
            }
            catch (NatsKVWrongLastRevisionException)
            {
                // Another relay renewed or took it between our read and our write: keep waiting.
            }
            catch (NatsKVCreateException)
            {
                // Another relay created it first.
            }
            catch (Exception ex) when (NatsBus.IsTransient(ex) && !cancellationToken.IsCancellationRequested)
            {
                NatsLog.LeaseReadFailed(_logger, _key, ex.GetType().Name);
            }

            await Task.Delay(_options.CheckInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Renews every RenewInterval until the lease is lost (Lease.L2): returns as soon as the fence deadline
    /// passes without a successful renewal, or a renewal finds another relay's revision.
    /// </summary>
    public async Task<LeaseLoss> HoldAsync(LeaseGrant grant, CancellationToken cancellationToken)
    {
        var clock = new LeaseClock(_options.Ttl, _options.FenceAfter);
        clock.Acquired(grant.SentAt);
        ulong revision = grant.Revision;
        var nextRenewAt = grant.SentAt + _options.RenewInterval;
        Task<ulong>? renewal = null;
        TimeSpan renewalSentAt = default;
        using var stopRenewal = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var now = Now;
                if (clock.MustFence(now))
                {
                    NatsLog.LeaseExpired(_logger, _key, grant.Generation, _options.FenceAfter);
                    return LeaseLoss.Expired;
                }

                if (renewal is null && now >= nextRenewAt)
                {
                    renewalSentAt = now;
                    renewal = RenewAsync(grant.Generation, revision, stopRenewal.Token);
                }

                // Wake at the fence deadline even if a renewal hangs (the deadline never waits for the network).
                var wakeAt = renewal is null ? Min(nextRenewAt, clock.FenceDeadline) : clock.FenceDeadline;
                var delay = wakeAt - Now;
                if (renewal is not null)
                {
                    if (delay > TimeSpan.Zero)
                    {
                        await Task.WhenAny(renewal, Task.Delay(delay, _time, cancellationToken)).ConfigureAwait(false);
                    }

                    if (!renewal.IsCompleted)
                    {
                        continue;
                    }

                    try
                    {
                        revision = await renewal.ConfigureAwait(false);
                        clock.Renewed(renewalSentAt);
                        nextRenewAt = renewalSentAt + _options.RenewInterval;
                    }
                    catch (NatsKVWrongLastRevisionException)
                    {
                        NatsLog.LeaseTakenOver(_logger, _key, grant.Generation);
                        return LeaseLoss.TakenOver;
                    }
                    catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                    {
                        // The bus is down or slow: try again soon; the deadline decides when to give up.
                        NatsLog.LeaseRenewFailed(_logger, _key, ex.GetType().Name);
                        nextRenewAt = Now + _options.CheckInterval;
                    }

                    renewal = null;
                }
                else if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            stopRenewal.Cancel();
        }
    }

    /// <summary>Marks the lease released (compare-and-set on the revision held), so a standby takes over at once. Best effort.</summary>
    public async Task ReleaseAsync(long generation, CancellationToken cancellationToken)
    {
        try
        {
            var (entry, record) = await ReadAsync(cancellationToken).ConfigureAwait(false);
            if (entry is null || record is null || record.Holder != _holder || record.Generation != generation)
            {
                return;
            }

            await _kv.UpdateAsync(_key, FeedJsonContext.Serialize(Record(generation, released: true)), entry.Value.Revision, Raw, cancellationToken).ConfigureAwait(false);
            NatsLog.LeaseReleased(_logger, _key, generation);
        }
        catch (Exception ex) when (ex is NatsKVWrongLastRevisionException || NatsBus.IsTransient(ex))
        {
            // Someone else holds it, or the bus is gone: the standby takes over after the TTL instead.
        }
    }

    private async Task<ulong> RenewAsync(long generation, ulong revision, CancellationToken cancellationToken) =>
        await _kv.UpdateAsync(_key, FeedJsonContext.Serialize(Record(generation, released: false)), revision, Raw, cancellationToken).ConfigureAwait(false);

    private async Task<(NatsKVEntry<byte[]>? Entry, LeaseRecord? Record)> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var entry = await _kv.GetEntryAsync(_key, serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
            return (entry, FeedJsonContext.ReadLease(entry.Value));
        }
        catch (NatsKVKeyNotFoundException)
        {
            return (null, null);
        }
        catch (NatsKVKeyDeletedException)
        {
            // Deleted by an operator: a create fails on the delete marker, so treat it as released at revision 0.
            return (null, null);
        }
    }

    private LeaseRecord Record(long generation, bool released) => new(
        _holder,
        generation,
        (long)_options.Ttl.TotalMilliseconds,
        (long)_options.RenewInterval.TotalMilliseconds,
        _time.GetUtcNow(),
        released,
        _endpoint);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
