using Transport.Testing;

namespace Transport.IntegrationTests.Conformance;

/// <summary>
/// Plays one catalogue case against one bare leaf, doing what the stack does above it: answer every
/// surfaced ping with a pong, deliver data, stop at the peer's close or the first failure.
/// </summary>
internal static class CatalogueDriver
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public static async Task<(ClientSide Client, ServerSide Server)> RunAsync(CatalogueHost host, ConformanceCase c, LeafKind leaf)
    {
        var uri = host.Register(c, out var observed);
        var connector = LeafKinds.CreateConnector(leaf, c.MaxMessageBytes, deflate: c.Offer);
        var messages = new List<(FrameKind, byte[])>();
        ILeafConnection connection;
        try
        {
            connection = await connector.ConnectAsync(new HandshakeRequest(uri), CancellationToken.None).AsTask().WaitAsync(Bound);
        }
        catch (TransportException refused)
        {
            return (new ClientSide(messages, null, refused, HandshakeRefused: true), await ObservedOrEmpty(observed));
        }

        Frame? close = null;
        TransportException? error = null;
        await using (connection)
        {
            using var bound = new CancellationTokenSource(Bound);
            try
            {
                if (c.Client is not null)
                {
                    await c.Client(connection).WaitAsync(Bound);
                }

                while (true)
                {
                    var frame = await connection.Receiver.ReceiveAsync(bound.Token);
                    if (frame.Kind == FrameKind.Ping)
                    {
                        await connection.Sender.SendAsync(Frame.Pong(frame.Payload.ToArray()), bound.Token); // the stack's pong lane
                    }
                    else if (frame.IsData)
                    {
                        messages.Add((frame.Kind, frame.Payload.ToArray()));
                    }
                    else if (frame.Kind == FrameKind.Close)
                    {
                        close = frame;
                        break;
                    }
                }
            }
            catch (TransportException failed)
            {
                error = failed;
            }
            catch (OperationCanceledException) when (bound.IsCancellationRequested)
            {
                // Neither a close nor a failure within the bound: the observation says so ("no end").
            }
        }

        return (new ClientSide(messages, close, error, HandshakeRefused: false), await observed.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    // A refused handshake closes the TCP connection: the server's script and observation end at once.
    private static async Task<ServerSide> ObservedOrEmpty(Task<ServerSide> observed)
    {
        try
        {
            return await observed.WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException)
        {
            return new ServerSide([], null, false);
        }
    }
}
