using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Transport.Testing;

/// <summary>
/// A small HTTP CONNECT proxy for tests (the kind corporate networks route through): it parses
/// <c>CONNECT host:port HTTP/1.1</c>, opens the tunnel, answers 200 and copies bytes both ways
/// until either side closes. It counts tunnels and records their targets; it can refuse every
/// tunnel with a status (407 with a <c>Proxy-Authenticate</c> challenge, 403, ...).
/// </summary>
/// <remarks>
/// A request that is not CONNECT (an absolute-form <c>GET http://...</c>) is answered 405 and
/// recorded in <see cref="NonConnectRequests"/>, so a test sees a client that did not tunnel.
/// Disposing stops the listener and closes every open tunnel.
/// </remarks>
public sealed class ConnectProxy : IAsyncDisposable
{
    private const int MaxHeadBytes = 16 * 1024;

    private readonly TcpListener _listener;
    private readonly int? _refuseWith;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly List<string> _targets = []; // guarded by _lock
    private readonly List<string> _nonConnect = []; // guarded by _lock
    private readonly List<Task> _connections = []; // guarded by _lock
    private readonly ConcurrentQueue<Exception> _errors = new();
    private readonly Task _accepting;
    private int _tunnels;
    private int _openTunnels;
    private int _refused;

    private ConnectProxy(int? refuseWith)
    {
        _refuseWith = refuseWith;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Uri = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _accepting = AcceptLoopAsync();
    }

    /// <summary>http://127.0.0.1:PORT/: the proxy address to configure on a handler or WebProxy.</summary>
    public Uri Uri { get; }

    /// <summary>Tunnels opened (CONNECT answered 200) so far.</summary>
    public int TunnelCount => Volatile.Read(ref _tunnels);

    /// <summary>Tunnels open now.</summary>
    public int OpenTunnels => Volatile.Read(ref _openTunnels);

    /// <summary>CONNECT requests refused so far.</summary>
    public int RefusedCount => Volatile.Read(ref _refused);

    /// <summary>The <c>host:port</c> of every CONNECT, in arrival order (refused ones included).</summary>
    public IReadOnlyList<string> Targets
    {
        get
        {
            lock (_lock)
            {
                return [.. _targets];
            }
        }
    }

    /// <summary>Request lines of requests that were not CONNECT (answered 405).</summary>
    public IReadOnlyList<string> NonConnectRequests
    {
        get
        {
            lock (_lock)
            {
                return [.. _nonConnect];
            }
        }
    }

    /// <summary>Unexpected failures of the proxy itself (a test may assert it is empty).</summary>
    public IReadOnlyCollection<Exception> Errors => [.. _errors];

    /// <summary>Starts a proxy that tunnels every CONNECT.</summary>
    /// <returns>The proxy.</returns>
    public static ConnectProxy Start() => new(refuseWith: null);

    /// <summary>Starts a proxy that answers every CONNECT with <paramref name="status"/> (407 carries a Basic challenge).</summary>
    /// <param name="status">The refusal status, for example 407 or 403.</param>
    /// <returns>The proxy.</returns>
    public static ConnectProxy StartRefusing(int status)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(status, 300);
        return new ConnectProxy(status);
    }

    /// <summary>Stops accepting and closes every tunnel.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Task[] connections;
        lock (_lock)
        {
            connections = [.. _connections];
        }

        try
        {
            await Task.WhenAll([_accepting, .. connections]).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
        {
            // Stopping: whatever did not end in time is abandoned with its sockets closed.
        }

        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException && _stopping.IsCancellationRequested)
            {
                return;
            }

            var connection = HandleAsync(client);
            lock (_lock)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(connection);
            }
        }
    }

    private async Task HandleAsync(TcpClient client)
    {
        using var _ = client;
        client.NoDelay = true;
        var stream = client.GetStream();
        try
        {
            var (head, leftover) = await ReadHeadAsync(stream, _stopping.Token).ConfigureAwait(false);
            if (head is null)
            {
                return;
            }

            var requestLine = head.Split("\r\n", 2)[0];
            var parts = requestLine.Split(' ');
            if (parts.Length != 3 || !parts[0].Equals("CONNECT", StringComparison.OrdinalIgnoreCase))
            {
                lock (_lock)
                {
                    _nonConnect.Add(requestLine);
                }

                await WriteAsync(stream, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ConfigureAwait(false);
                return;
            }

            var target = parts[1];
            lock (_lock)
            {
                _targets.Add(target);
            }

            if (_refuseWith is { } status)
            {
                Interlocked.Increment(ref _refused);
                var challenge = status == 407 ? "Proxy-Authenticate: Basic realm=\"test-proxy\"\r\n" : string.Empty;
                await WriteAsync(stream, $"HTTP/1.1 {status} Refused\r\n{challenge}Content-Length: 0\r\nConnection: close\r\n\r\n").ConfigureAwait(false);
                return;
            }

            var colon = target.LastIndexOf(':');
            var host = target[..colon].Trim('[', ']');
            var port = int.Parse(target[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            using var upstream = new TcpClient { NoDelay = true };
            try
            {
                await upstream.ConnectAsync(host, port, _stopping.Token).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                await WriteAsync(stream, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ConfigureAwait(false);
                return;
            }

            var upstreamStream = upstream.GetStream();
            await WriteAsync(stream, "HTTP/1.1 200 Connection Established\r\n\r\n").ConfigureAwait(false);
            Interlocked.Increment(ref _tunnels);
            Interlocked.Increment(ref _openTunnels);
            try
            {
                if (leftover.Length > 0)
                {
                    await upstreamStream.WriteAsync(leftover, _stopping.Token).ConfigureAwait(false);
                }

                // Either direction ending ends the tunnel: both sockets close on the way out.
                await Task.WhenAny(
                    PumpAsync(stream, upstreamStream, _stopping.Token),
                    PumpAsync(upstreamStream, stream, _stopping.Token)).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _openTunnels);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // A side went away or the proxy is stopping: the tunnel ends with it.
        }
        catch (Exception ex)
        {
            _errors.Enqueue(ex);
        }
    }

    private static async Task PumpAsync(NetworkStream from, NetworkStream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
            // The tunnel ends.
        }
    }

    private static async Task<(string? Head, byte[] Leftover)> ReadHeadAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxHeadBytes];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return (null, []);
            }

            filled += read;
            var end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                return (Encoding.ASCII.GetString(buffer, 0, end), buffer[(end + 4)..filled]);
            }
        }

        return (null, []);
    }

    private Task WriteAsync(NetworkStream stream, string text) =>
        stream.WriteAsync(Encoding.ASCII.GetBytes(text), _stopping.Token).AsTask();
}
