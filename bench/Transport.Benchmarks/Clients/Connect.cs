using System.Net.WebSockets;
using Transport.WebSockets;

namespace Transport.Benchmarks.Clients;

/// <summary>How every scenario opens its raw and its full-stack connections (same defaults on both sides).</summary>
internal static class Connect
{
    public static readonly byte[] Go = "go"u8.ToArray();

    public static async Task<ClientWebSocket> RawAsync(Uri uri, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(uri, cancellationToken).ConfigureAwait(false);
        return socket;
    }

    public static async Task CloseRawAsync(ClientWebSocket socket)
    {
        // Untimed. A real close so the server's handler ends cleanly.
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The server may already be gone (recovery scenario); nothing to report.
        }

        socket.Abort();
        socket.Dispose();
    }

    /// <summary>The full stack: backoff 0 (no jitter), no attempt-rate gate in practice, no send rate limit.</summary>
    /// <param name="uri">The server.</param>
    /// <param name="configure">Scenario-specific options (ring size, lease mode).</param>
    /// <param name="cancellationToken">Bounds the connect.</param>
    /// <param name="pipes">True: the System.IO.Pipelines leaf (the default); false: the ClientWebSocket leaf, chosen explicitly.</param>
    public static async Task<ReconnectingConnection> StackAsync(Uri uri, Action<TransportOptionsBuilder>? configure, CancellationToken cancellationToken, bool pipes = false)
    {
        var builder = new WebSocketTransportBuilder();
        builder.Configure(o => o.WithLeaf(pipes ? LeafKind.Pipelines : LeafKind.ClientWebSocket));
        if (pipes && int.TryParse(Environment.GetEnvironmentVariable("BENCH_PIPE_BUFFER"), out int pipeBuffer) && pipeBuffer > 0)
        {
            // Diagnostic: the Pipelines leaf's read size (default 16 KiB), to measure its effect.
            builder.UsePipelinesLeaf(o => o.ReceiveBufferBytes = pipeBuffer);
        }

        var connector = builder
            .Configure(o =>
            {
                o.WithUri(uri)
                 .WithBackoff(TimeSpan.Zero, TimeSpan.FromSeconds(1), useJitter: false)
                 .WithAttemptRateLimit(1_000_000, TimeSpan.FromMinutes(1));
                configure?.Invoke(o);
            })
            .Build();
        return await connector.ConnectAsync(cancellationToken).ConfigureAwait(false); // completes when connected
    }
}
