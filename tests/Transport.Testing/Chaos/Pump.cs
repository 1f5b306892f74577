using System.Net.Sockets;

namespace Transport.Testing.Chaos;

/// <summary>
/// Copies one direction of a proxied connection, applying the direction's faults to each chunk in this order:
/// half-open (drop or hold), latency, mid-frame cut (server-to-client only), throttle.
/// It never throws: any socket failure resets the whole connection, like a broken network path.
/// </summary>
internal sealed class Pump
{
    private const int BufferSize = 16 * 1024;

    // A throttled chunk is written in slices of about 1/20 s worth of bytes, so the rate is smooth.
    private const int SlicesPerSecond = 20;

    private readonly Socket _source;
    private readonly Socket _destination;
    private readonly Direction _direction;
    private readonly ChaosPolicy _policy;
    private readonly DirectionPolicy _settings;
    private readonly ProxyStats _stats;
    private readonly ProxyConnection _connection;

    // Only this pump touches it: the mid-frame cut it claimed, until it fires.
    private MidFrameCut? _claimedCut;

    public Pump(Socket source, Socket destination, Direction direction, ChaosPolicy policy, ProxyStats stats, ProxyConnection connection)
    {
        _source = source;
        _destination = destination;
        _direction = direction;
        _policy = policy;
        _settings = policy.For(direction);
        _stats = stats;
        _connection = connection;
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _stats.PumpStarted();
        try
        {
            var buffer = new byte[BufferSize];
            while (true)
            {
                var read = await _source.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    // The source half-closed: pass its FIN on and leave the other direction running.
                    ShutdownSend(_destination);
                    return;
                }

                _stats.AddRead(_direction, read);
                if (!await ForwardAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (Exception)
        {
            // Cancellation, disposal or a reset: reset the peer too (a no-op when the connection is already cut).
            _connection.Cut(CutMode.Rst);
        }
        finally
        {
            _claimedCut?.Abandon();
            _stats.PumpStopped();
        }
    }

    /// <returns>False when the connection was cut and the pump must stop.</returns>
    private async Task<bool> ForwardAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken)
    {
        while (_settings.IsHalted(out var mode, out var resumed))
        {
            if (mode == HalfOpenMode.Discard)
            {
                _stats.AddDiscarded(chunk.Length);
                return true;
            }

            await resumed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var latency = _settings.Latency;
        if (latency > TimeSpan.Zero)
        {
            await Task.Delay(latency, cancellationToken).ConfigureAwait(false);
        }

        if (_direction == Direction.ServerToClient)
        {
            _claimedCut ??= _policy.TakeCut();
            if (_claimedCut is { } cut)
            {
                var forward = cut.Plan(chunk.Length, out var cutAfter);
                if (cutAfter)
                {
                    // Unthrottled on purpose: the prefix must be on the wire before the RST. On loopback with
                    // Nagle off, a completed send has been transmitted, so the client reads it before the reset.
                    await SendAllAsync(chunk[..forward], cancellationToken).ConfigureAwait(false);
                    _claimedCut = null;
                    _connection.Cut(CutMode.Rst);
                    cut.Complete();
                    return false;
                }
            }
        }

        await SendThrottledAsync(chunk, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task SendThrottledAsync(ReadOnlyMemory<byte> chunk, CancellationToken cancellationToken)
    {
        while (!chunk.IsEmpty)
        {
            // Re-read per slice so Throttle/Unthrottle take effect in the middle of a large chunk.
            var bytesPerSecond = _settings.BytesPerSecond;
            if (bytesPerSecond <= 0)
            {
                await SendAllAsync(chunk, cancellationToken).ConfigureAwait(false);
                return;
            }

            var slice = Math.Min(chunk.Length, Math.Max(1, bytesPerSecond / SlicesPerSecond));
            await SendAllAsync(chunk[..slice], cancellationToken).ConfigureAwait(false);
            chunk = chunk[slice..];
            await Task.Delay(TimeSpan.FromSeconds((double)slice / bytesPerSecond), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SendAllAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await _destination.SendAsync(bytes, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            _stats.AddForwarded(_direction, sent);
            bytes = bytes[sent..];
        }
    }

    private static void ShutdownSend(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // Already reset or closed: nothing left to tell the peer.
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
