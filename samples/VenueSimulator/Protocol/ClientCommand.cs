namespace VenueSimulator.Protocol;

/// <summary>The operations a client may send (see PROTOCOL.md).</summary>
internal enum ClientOp
{
    Subscribe,
    Unsubscribe,
    Ping,
    Snapshot,
    Login,
    Order,
}

/// <summary>One parsed client request. <see cref="Topics"/> is empty for ping, login and order.</summary>
internal sealed record ClientCommand(ClientOp Op, IReadOnlyList<string> Topics, long? Id);
