using Transport.Mock;

namespace Transport.Tests.Legs;

/// <summary>
/// A scripted leaf whose received data frames are leased (lease mode), each over its own fresh
/// <see cref="PayloadLease"/> (never reused), so a test can read every lease's generation afterwards: 0 while
/// held, 1 once released, and a second release would have thrown.
/// </summary>
internal sealed class LeasingConnector : ILeafConnector
{
    private readonly PayloadLeasePool _pool = new();
    private readonly List<PayloadLease> _leases = [];

    public ScriptedConnector Inner { get; } = new();

    public IReadOnlyList<PayloadLease> Leases
    {
        get { lock (_leases) { return [.. _leases]; } }
    }

    public async ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken) =>
        new Connection(await Inner.ConnectAsync(handshake, cancellationToken), this);

    private Frame Lease(Frame frame)
    {
        if (!frame.IsData)
        {
            return frame;
        }

        var lease = new PayloadLease(_pool);
        lease.Reset(frame.Length);
        frame.Payload.Span.CopyTo(lease.Writable);
        lock (_leases)
        {
            _leases.Add(lease);
        }

        return Frame.Leased(frame.Kind, lease);
    }

    private sealed class Connection(ILeafConnection inner, LeasingConnector owner) : ILeafConnection, ILeafReceiver
    {
        public ILeafSender Sender => inner.Sender;

        public ILeafReceiver Receiver => this;

        public string? SubProtocol => inner.SubProtocol;

        public HandshakeResponse Handshake => inner.Handshake;

        public LeafCapabilities Capabilities => inner.Capabilities;

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        public async ValueTask<Frame> ReceiveAsync(CancellationToken cancellationToken) =>
            owner.Lease(await inner.Receiver.ReceiveAsync(cancellationToken));

        public bool TryReceive(out Frame frame)
        {
            if (inner.Receiver.TryReceive(out frame))
            {
                frame = owner.Lease(frame);
                return true;
            }

            return false;
        }
    }
}
