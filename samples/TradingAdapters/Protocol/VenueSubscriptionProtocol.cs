using Transport;
using Transport.WebSockets.Pool;

namespace TradingAdapters.Protocol;

/// <summary>
/// The simulator's subscription grammar for a <see cref="ConnectionPool"/>: the pool decides which
/// connection carries which topic and when; this only renders one subscribe (or unsubscribe) request
/// listing a connection's topics, with a fresh request id.
/// </summary>
public sealed class VenueSubscriptionProtocol : ISubscriptionProtocol
{
    private long _nextId;

    /// <inheritdoc />
    public IReadOnlyList<Frame> Subscribe(IReadOnlyList<string> keys) => [VenueCommands.Subscribe(keys, Interlocked.Increment(ref _nextId))];

    /// <inheritdoc />
    public IReadOnlyList<Frame> Unsubscribe(IReadOnlyList<string> keys) => [VenueCommands.Unsubscribe(keys, Interlocked.Increment(ref _nextId))];
}
