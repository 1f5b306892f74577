using System.Net;
using System.Net.Sockets;

namespace Transport.Testing.Chaos;

/// <summary>
/// One accepted client connection: connects upstream and runs the two pumps, or, when blackholed, only drains
/// the client. <see cref="Completion"/> finishes when both sockets are closed and every pump has stopped.
/// </summary>
internal sealed class ProxyConnection
{
    private readonly Socket _client;
    private readonly IPEndPoint _upstreamEndPoint;
    private readonly ChaosPolicy _policy;
    private readonly ProxyStats _stats;
    private readonly bool _blackholed;
    private readonly Action<ProxyConnection> _onClosed;

    // Never disposed on purpose: Cut may race with the end of RunAsync, and a CTS without a timer holds nothing.
    private readonly CancellationTokenSource _cancellation = new();

    private readonly object _gate = new();

    // Guarded by _gate: set once the upstream socket exists, so Cut can close it even mid-connect.
    private Socket? _upstream;

    // Guarded by _gate: once true, every socket is (being) closed and nothing new may be opened.
    private bool _closed;

    public ProxyConnection(Socket client, IPEndPoint upstream, ChaosPolicy policy, ProxyStats stats, Action<ProxyConnection> onClosed)
    {
        _client = client;
        _upstreamEndPoint = upstream;
        _policy = policy;
        _stats = stats;
        _onClosed = onClosed;
        _blackholed = policy.Blackhole;
    }

    public Task Completion { get; private set; } = Task.CompletedTask;

    public void Start() => Completion = RunAsync();

    /// <summary>Closes both sockets the given way and stops the pumps. Idempotent and thread-safe.</summary>
    public void Cut(CutMode mode)
    {
        Socket? upstream;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }

            _closed = true;
            upstream = _upstream;
        }

        Terminate(_client, mode);
        if (upstream is not null)
        {
            Terminate(upstream, mode);
        }

        _cancellation.Cancel();
    }

    private async Task RunAsync()
    {
        try
        {
            if (_blackholed)
            {
                await DrainClientAsync(_cancellation.Token).ConfigureAwait(false);
                return;
            }

            var upstream = new Socket(_upstreamEndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            lock (_gate)
            {
                if (_closed)
                {
                    upstream.Dispose();
                    return;
                }

                _upstream = upstream;
            }

            try
            {
                await upstream.ConnectAsync(_upstreamEndPoint, _cancellation.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The backend is unreachable: the client sees a reset, as behind a real proxy.
                _stats.UpstreamFailed();
                Cut(CutMode.Rst);
                return;
            }

            _stats.UpstreamConnected();
            var toServer = new Pump(_client, upstream, Direction.ClientToServer, _policy, _stats, this).RunAsync(_cancellation.Token);
            var toClient = new Pump(upstream, _client, Direction.ServerToClient, _policy, _stats, this).RunAsync(_cancellation.Token);
            await Task.WhenAll(toServer, toClient).ConfigureAwait(false);
        }
        catch (Exception)
        {
            Cut(CutMode.Rst);
        }
        finally
        {
            // Both directions ended (FIN both ways) or the connection was cut: release the sockets.
            Cut(CutMode.Fin);
            _onClosed(this);
            _stats.ConnectionClosed();
        }
    }

    /// <summary>Blackhole: read and drop what the client sends, never answer, until it goes away.</summary>
    private async Task DrainClientAsync(CancellationToken cancellationToken)
    {
        _stats.PumpStarted();
        try
        {
            var buffer = new byte[4096];
            while (true)
            {
                var read = await _client.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                _stats.AddRead(Direction.ClientToServer, read);
                _stats.AddDiscarded(read);
            }
        }
        catch (Exception)
        {
            Cut(CutMode.Rst);
        }
        finally
        {
            _stats.PumpStopped();
        }
    }

    private static void Terminate(Socket socket, CutMode mode)
    {
        try
        {
            if (mode == CutMode.Rst)
            {
                // Linger on with zero timeout: close() aborts the connection and the kernel sends RST.
                socket.LingerState = new LingerOption(true, 0);
            }
            else
            {
                socket.Shutdown(SocketShutdown.Both);
            }
        }
        catch (SocketException)
        {
            // Not connected (e.g. upstream still connecting) or already reset: closing is all that is left.
        }
        catch (ObjectDisposedException)
        {
        }

        socket.Dispose();
    }
}
