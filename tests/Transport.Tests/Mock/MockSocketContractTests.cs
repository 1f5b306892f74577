using Transport.Mock;
using Transport.Testing.LeafContract;

namespace Transport.Tests.Mock;

/// <summary>
/// The leaf contract run against the mock socket, so the double the deterministic tests rely on
/// behaves like the real leaves where it matters: kinds, ordering, error kinds and codes, close
/// handshake shape, cancellation, surfaced pings.
/// </summary>
/// <remarks>
/// Where the mock cannot be a wire (no bytes, so no invalid UTF-8 or oversized frame to parse), the
/// peer injects the failure a real leaf reports; the capability flags below say what the mock does
/// not model (the peer seeing our violation close, our echo of its close, response headers, stamping).
/// </remarks>
public sealed class MockSocketContractTests : LeafContractTests
{
    protected override LeafCapabilities ExpectedCapabilities => LeafCapabilities.SurfacesPings | LeafCapabilities.SurfacesPongs;

    protected override bool PeerSeesViolationClose => false;

    protected override bool EchoesPeerClose => false;

    protected override bool SeesResponseHeaders => false;

    protected override bool StampsReceivedAt => false;

    protected override Task<ILeafPeer> OpenAsync(LeafContractSettings settings) =>
        Task.FromResult<ILeafPeer>(new MockPeer(new MockSocket(settings.SelectSubProtocol), settings));

    private sealed class MockPeer(MockSocket socket, LeafContractSettings settings) : ILeafPeer
    {
        private int _read;
        private bool _closeReported;

        public ILeafConnection Connection => socket;

        public Task SendAsync(byte[] payload, bool text, int? fragmentBytes = null)
        {
            // The mock sits above reassembly: a fragmented message arrives whole, as from a leaf.
            socket.Deliver(text ? Frame.Text(payload) : Frame.Binary(payload));
            return Task.CompletedTask;
        }

        public Task SendPingAsync(byte[] payload)
        {
            socket.DeliverPing(payload);
            return Task.CompletedTask;
        }

        public Task SendCloseAsync(int code, string? reason)
        {
            socket.DeliverClose(code, reason);
            return Task.CompletedTask;
        }

        public Task SendInvalidUtf8Async()
        {
            socket.Fail(TransportException.Protocol("A text message was not valid UTF-8.", CloseCodes.InvalidPayload));
            return Task.CompletedTask;
        }

        public Task SendOversizedAsync(int bytes)
        {
            socket.Fail(TransportException.MessageTooBig(settings.MaxMessageBytes));
            return Task.CompletedTask;
        }

        public void Abort() => socket.Disconnect();

        public Task<Frame?> ReceiveAsync()
        {
            var sent = socket.Sent;
            if (_read < sent.Count)
            {
                return Task.FromResult<Frame?>(sent[_read++]);
            }

            if (!_closeReported && socket.CloseSent is { } close)
            {
                _closeReported = true;
                return Task.FromResult<Frame?>(Frame.Close(close.Code, close.Reason));
            }

            return Task.FromResult<Frame?>(null);
        }

        public ValueTask DisposeAsync() => socket.DisposeAsync();
    }
}
