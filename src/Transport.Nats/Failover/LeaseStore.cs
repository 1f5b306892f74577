using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace Transport.Nats.Failover;

/// <summary>One read of the lease key: its revision and value.</summary>
internal readonly record struct LeaseEntry(ulong Revision, byte[]? Value);

/// <summary>Another relay wrote the lease first (a create found it, or an update found a newer revision).</summary>
internal sealed class LeaseConflictException : Exception
{
    public LeaseConflictException()
        : base("The lease was written by another relay.")
    {
    }

    public LeaseConflictException(string message)
        : base(message)
    {
    }

    public LeaseConflictException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// The lease key's store: read, create, and update by revision compare-and-set. The relay's is the feed's KV
/// bucket (<see cref="KvLeaseStore"/>); tests drive <see cref="LeaseKeeper"/> over an in-memory one on a manual clock.
/// </summary>
internal interface ILeaseStore
{
    /// <summary>The key now; null when absent or deleted.</summary>
    Task<LeaseEntry?> GetAsync(CancellationToken cancellationToken);

    /// <summary>Creates the key; <see cref="LeaseConflictException"/> when it exists.</summary>
    Task<ulong> CreateAsync(byte[] value, CancellationToken cancellationToken);

    /// <summary>Writes the key if its revision is still <paramref name="revision"/>; <see cref="LeaseConflictException"/> otherwise.</summary>
    Task<ulong> UpdateAsync(byte[] value, ulong revision, CancellationToken cancellationToken);
}

/// <summary>The lease in the feed's KV bucket.</summary>
internal sealed class KvLeaseStore(INatsKVStore kv, string key) : ILeaseStore
{
    private static readonly NatsRawSerializer<byte[]> Raw = NatsRawSerializer<byte[]>.Default;

    public async Task<LeaseEntry?> GetAsync(CancellationToken cancellationToken)
    {
        try
        {
            var entry = await kv.GetEntryAsync(key, serializer: Raw, cancellationToken: cancellationToken).ConfigureAwait(false);
            return new LeaseEntry(entry.Revision, entry.Value);
        }
        catch (NatsKVKeyNotFoundException)
        {
            return null;
        }
        catch (NatsKVKeyDeletedException)
        {
            // Deleted by an operator: a create fails on the delete marker, so treat it as released at revision 0.
            return null;
        }
    }

    public async Task<ulong> CreateAsync(byte[] value, CancellationToken cancellationToken)
    {
        try
        {
            return await kv.CreateAsync(key, value, Raw, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsKVCreateException ex)
        {
            throw new LeaseConflictException("The lease was created by another relay.", ex);
        }
    }

    public async Task<ulong> UpdateAsync(byte[] value, ulong revision, CancellationToken cancellationToken)
    {
        try
        {
            return await kv.UpdateAsync(key, value, revision, Raw, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsKVWrongLastRevisionException ex)
        {
            throw new LeaseConflictException("The lease was written by another relay.", ex);
        }
    }
}
