using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Pool;

/// <summary>
/// A leaf decorator for tests: every non-empty data frame the inner leaf receives is copied into a
/// lease of <paramref name="pool"/> (what lease mode's leaves do through the payload allocator), and
/// every leased frame handed out is remembered in <see cref="Created"/>, oldest first.
/// </summary>
internal sealed class LeasingConnector(ILeafConnector inner, PayloadLeasePool pool) : ILeafConnector
{
    private readonly List<Frame> _created = [];

    /// <summary>Every leased frame this leaf handed to the stack, oldest first.</summary>
    public IReadOnlyList<Frame> Created
    {
        get { lock (_created) { return [.. _created]; } }
    }

    public async ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken) =>
        new Connection(await inner.ConnectAsync(handshake, cancellationToken), this);

    private Frame Lease(Frame frame)
    {
        if (!frame.IsData || frame.Length == 0)
        {
            return frame;
        }

        PayloadLease lease = pool.Rent(frame.Length);
        frame.Payload.Span.CopyTo(lease.Writable);
        Frame leased = Frame.Leased(frame.Kind, lease).WithReceivedAt(frame.ReceivedAt);
        lock (_created)
        {
            _created.Add(leased);
        }

        return leased;
    }

    private sealed class Connection(ILeafConnection inner, LeasingConnector owner) : ILeafConnection, ILeafReceiver
    {
        public ILeafSender Sender => inner.Sender;

        public ILeafReceiver Receiver => this;

        public string? SubProtocol => inner.SubProtocol;

        public HandshakeResponse Handshake => inner.Handshake;

        public LeafCapabilities Capabilities => inner.Capabilities;

        public ValueTask DisposeAsync() => inner.DisposeAsync();

        // No ConfigureAwait(false): the stack's receive loop runs on the pumped scheduler (ADR 0003).
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
