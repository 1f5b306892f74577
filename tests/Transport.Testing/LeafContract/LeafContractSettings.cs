namespace Transport.Testing.LeafContract;

/// <summary>How the contract suite wants a connection opened.</summary>
/// <param name="MaxMessageBytes">The client's message limit.</param>
/// <param name="SubProtocols">Subprotocols the client requests.</param>
/// <param name="SelectSubProtocol">The subprotocol the peer selects, if any.</param>
/// <param name="ResponseHeader">A (name, value) header the peer adds to its upgrade answer, if any.</param>
/// <param name="Time">The clock the leaf stamps frames with.</param>
public sealed record LeafContractSettings(
    int MaxMessageBytes = 1024 * 1024,
    IReadOnlyList<string>? SubProtocols = null,
    string? SelectSubProtocol = null,
    (string Name, string Value)? ResponseHeader = null,
    TimeProvider? Time = null);
