using System.Text;
using Transport.Testing;
using Transport.Testing.LeafContract;

namespace Transport.IntegrationTests.Leaf.Contract;

/// <summary>
/// The contract suite's peer for a real leaf: a Kestrel loopback server that upgrades by hand and
/// writes and reads raw frames, so it can send what a well-behaved server never would.
/// </summary>
internal sealed class RawLeafPeer : ILeafPeer
{
    private readonly LoopbackServer _server;
    private readonly RawWebSocketWriter _raw;
    private readonly TaskCompletionSource _done;

    private RawLeafPeer(LoopbackServer server, RawWebSocketWriter raw, TaskCompletionSource done, ILeafConnection connection)
    {
        _server = server;
        _raw = raw;
        _done = done;
        Connection = connection;
    }

    public ILeafConnection Connection { get; }

    public static async Task<ILeafPeer> OpenAsync(LeafContractSettings settings, Func<HandshakeRequest, Task<ILeafConnection>> connect)
    {
        var accepted = new TaskCompletionSource<RawWebSocketWriter>(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = await LoopbackServer.StartAsync(async s =>
        {
            var headers = settings.ResponseHeader is { } h ? new[] { KeyValuePair.Create(h.Name, h.Value) } : null;
            accepted.TrySetResult(await s.AcceptRawAsync(settings.SelectSubProtocol, headers));

            // Held open until the test is done, even after the client went away: ending the request
            // would dispose the stream before the test read the client's last frames.
            await done.Task;
        });
        try
        {
            var handshake = new HandshakeRequest(server.WebSocketUri);
            foreach (var protocol in settings.SubProtocols ?? [])
            {
                handshake.SubProtocols.Add(protocol);
            }

            var connection = await connect(handshake).WaitAsync(LeafTestKit.Bound);
            return new RawLeafPeer(server, await accepted.Task.WaitAsync(LeafTestKit.Bound), done, connection);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    public async Task SendAsync(byte[] payload, bool text, int? fragmentBytes = null)
    {
        var size = fragmentBytes ?? Math.Max(payload.Length, 1);
        var offset = 0;
        var opcode = text ? RawWebSocketWriter.OpText : RawWebSocketWriter.OpBinary;
        do
        {
            var length = Math.Min(size, payload.Length - offset);
            var last = offset + length == payload.Length;
            await _raw.WriteFrameAsync(offset == 0 ? opcode : RawWebSocketWriter.OpContinuation, last, payload.AsMemory(offset, length));
            offset += length;
        }
        while (offset < payload.Length);
    }

    public Task SendPingAsync(byte[] payload) => _raw.WritePingAsync(payload);

    public Task SendCloseAsync(int code, string? reason) => _raw.WriteCloseAsync(code, reason);

    public Task SendInvalidUtf8Async() => _raw.WriteTextAsync([(byte)'o', (byte)'k', 0xC3, 0x28]);

    // The client stops reading mid-message, so the write may never finish: the caller does not wait for it.
    public Task SendOversizedAsync(int bytes) => Task.Run(async () =>
    {
        try
        {
            await _raw.WriteBinaryAsync(new byte[bytes]);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // The client closed first.
        }
    });

    public void Abort() => _raw.Abort();

    public async Task<Frame?> ReceiveAsync()
    {
        RawFrame? frame;
        try
        {
            frame = await _raw.ReadFrameAsync();
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or EndOfStreamException)
        {
            return null;
        }

        return frame switch
        {
            null => null,
            { Opcode: RawWebSocketWriter.OpText } => Frame.Text(frame.Payload),
            { Opcode: RawWebSocketWriter.OpBinary } => Frame.Binary(frame.Payload),
            { Opcode: RawWebSocketWriter.OpPing } => Frame.Ping(frame.Payload),
            { Opcode: RawWebSocketWriter.OpPong } => Frame.Pong(frame.Payload),
            { Opcode: RawWebSocketWriter.OpClose } => Frame.Close(frame.CloseCode ?? CloseCodes.NoStatus, frame.Payload.Length > 2 ? Encoding.UTF8.GetString(frame.Payload, 2, frame.Payload.Length - 2) : null),
            _ => throw new InvalidOperationException($"The client sent opcode {frame.Opcode}."),
        };
    }

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        _done.TrySetResult();
        await _server.DisposeAsync();
    }
}
