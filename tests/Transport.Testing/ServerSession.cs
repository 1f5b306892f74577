using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Transport.Testing;

/// <summary>
/// One connection to the <see cref="LoopbackServer"/>, as its handler scripts it: reject, accept,
/// stall, or accept raw; then drive the accepted socket with the helpers.
/// </summary>
public sealed class ServerSession : IAsyncDisposable
{
    private const string WebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    private readonly HttpContext _context;
    private WebSocket? _socket;

    internal ServerSession(HttpContext context, ReceivedHandshake handshake, int number, CancellationToken aborted)
    {
        _context = context;
        Handshake = handshake;
        Number = number;
        Aborted = aborted;
    }

    /// <summary>The request as the server saw it.</summary>
    public ReceivedHandshake Handshake { get; }

    /// <summary>1 for the server's first connection, 2 for the next, and so on.</summary>
    public int Number { get; }

    /// <summary>Fires when the client goes away or the server stops.</summary>
    public CancellationToken Aborted { get; }

    /// <summary>The accepted socket (after <see cref="AcceptAsync"/>).</summary>
    public WebSocket Socket => _socket ?? throw new InvalidOperationException("AcceptAsync first.");

    /// <summary>Answers the upgrade with <paramref name="status"/> instead of 101.</summary>
    /// <param name="status">For example 401, 403, 429, 503.</param>
    /// <returns>Completes when the answer was written.</returns>
    public async Task RejectAsync(int status)
    {
        _context.Response.StatusCode = status;
        await _context.Response.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Answers the upgrade with <paramref name="status"/> and response headers (for example Retry-After).</summary>
    /// <param name="status">For example 429 or 503.</param>
    /// <param name="headers">Headers to set on the answer.</param>
    /// <returns>Completes when the answer was written.</returns>
    public async Task RejectAsync(int status, params (string Name, string Value)[] headers)
    {
        foreach (var (name, value) in headers)
        {
            _context.Response.Headers[name] = value;
        }

        await RejectAsync(status).ConfigureAwait(false);
    }

    /// <summary>Completes the upgrade.</summary>
    /// <param name="subProtocol">The subprotocol to select, if any.</param>
    /// <param name="enableCompression">Accept permessage-deflate when the client offers it.</param>
    /// <returns>The server-side socket.</returns>
    public async Task<WebSocket> AcceptAsync(string? subProtocol = null, bool enableCompression = false)
    {
        _socket = await _context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = subProtocol,
            DangerousEnableCompression = enableCompression,
            KeepAliveInterval = TimeSpan.Zero,
        }).ConfigureAwait(false);
        return _socket;
    }

    /// <summary>Accepts the TCP connection and the request but never answers it; returns when the client goes away or the server stops.</summary>
    /// <returns>Completes on abort.</returns>
    public async Task StallHandshake()
    {
        var stalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var registration = Aborted.Register(() => stalled.TrySetResult()).ConfigureAwait(false);
        await stalled.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Performs the upgrade by hand (computing Sec-WebSocket-Accept) and returns a writer of
    /// arbitrary frames, for hostile-server tests the real WebSocket stack would refuse to produce.
    /// </summary>
    /// <param name="subProtocol">A subprotocol to announce, if any.</param>
    /// <param name="responseHeaders">Extra headers for the 101 answer (handshake-facts tests), if any.</param>
    /// <returns>The raw frame writer/reader over the upgraded stream.</returns>
    public async Task<RawWebSocketWriter> AcceptRawAsync(string? subProtocol = null, IEnumerable<KeyValuePair<string, string>>? responseHeaders = null)
    {
        foreach (var (name, value) in responseHeaders ?? [])
        {
            _context.Response.Headers[name] = value;
        }

        var upgrade = _context.Features.Get<IHttpUpgradeFeature>() ?? throw new InvalidOperationException("The request is not upgradable.");
        var key = _context.Request.Headers["Sec-WebSocket-Key"].ToString();
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + WebSocketGuid)));
        _context.Response.Headers["Upgrade"] = "websocket";
        _context.Response.Headers["Sec-WebSocket-Accept"] = accept;
        if (subProtocol is not null)
        {
            _context.Response.Headers["Sec-WebSocket-Protocol"] = subProtocol;
        }

        var stream = await upgrade.UpgradeAsync().ConfigureAwait(false);
        return new RawWebSocketWriter(stream, _context);
    }

    /// <summary>Echoes every message back until the client closes; echoes the close too.</summary>
    /// <returns>The client's close code, or null if the connection dropped.</returns>
    public async Task<int?> EchoAsync()
    {
        while (true)
        {
            var message = await ReceiveAsync().ConfigureAwait(false);
            if (message.Type == WebSocketMessageType.Close)
            {
                await CloseOutputQuietlyAsync(message.CloseStatus ?? 1000).ConfigureAwait(false);
                return message.CloseStatus;
            }

            await Socket.SendAsync(message.Payload, message.Type, true, Aborted).ConfigureAwait(false);
        }
    }

    /// <summary>Receives one whole message (or the close).</summary>
    /// <returns>The message.</returns>
    public async Task<ServerMessage> ReceiveAsync()
    {
        using var payload = new MemoryStream();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var result = await Socket.ReceiveAsync(buffer, Aborted).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return new ServerMessage(WebSocketMessageType.Close, [], (int?)result.CloseStatus, result.CloseStatusDescription);
            }

            payload.Write(buffer, 0, result.Count);
            if (result.EndOfMessage)
            {
                return new ServerMessage(result.MessageType, payload.ToArray(), null, null);
            }
        }
    }

    /// <summary>Reads and discards messages until the client's close arrives.</summary>
    /// <returns>The client's close code, or null if the connection dropped without one.</returns>
    public async Task<int?> WaitForCloseAsync()
    {
        try
        {
            while (true)
            {
                var message = await ReceiveAsync().ConfigureAwait(false);
                if (message.Type == WebSocketMessageType.Close)
                {
                    return message.CloseStatus;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException)
        {
            // The client vanished without a close frame. Kestrel reports an abort as a
            // WebSocketException, an IOException (reset) or an OperationCanceledException
            // (ConnectionAbortedException), depending on when it notices.
            return null;
        }
    }

    /// <summary>Sends one whole message.</summary>
    /// <param name="payload">The bytes.</param>
    /// <param name="text">Text (true) or binary.</param>
    /// <returns>Completes when written.</returns>
    public Task SendAsync(byte[] payload, bool text) =>
        Socket.SendAsync(payload, text ? WebSocketMessageType.Text : WebSocketMessageType.Binary, true, Aborted);

    /// <summary>Sends one text message.</summary>
    /// <param name="text">The text.</param>
    /// <returns>Completes when written.</returns>
    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text), text: true);

    /// <summary>
    /// Sends <paramref name="count"/> messages of <paramref name="size"/> bytes, each carrying its
    /// sequence number (0-based): text messages start with it as 10 decimal digits, binary ones as
    /// a big-endian Int32. See <see cref="ReadSequence"/>.
    /// </summary>
    /// <param name="count">How many.</param>
    /// <param name="size">Bytes per message (at least 10).</param>
    /// <param name="text">Text or binary.</param>
    /// <returns>Completes when all were written.</returns>
    public async Task FloodAsync(int count, int size, bool text)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 10);
        var message = new byte[size];
        message.AsSpan().Fill((byte)'x');
        for (var i = 0; i < count; i++)
        {
            if (text)
            {
                Encoding.ASCII.GetBytes(i.ToString("D10", System.Globalization.CultureInfo.InvariantCulture), message);
            }
            else
            {
                BinaryPrimitives.WriteInt32BigEndian(message, i);
            }

            await SendAsync(message, text).ConfigureAwait(false);
        }
    }

    /// <summary>Reads the sequence number <see cref="FloodAsync"/> put in a message.</summary>
    /// <param name="payload">The message.</param>
    /// <param name="text">Whether it was sent as text.</param>
    /// <returns>The sequence number.</returns>
    public static int ReadSequence(ReadOnlySpan<byte> payload, bool text) =>
        text ? int.Parse(Encoding.ASCII.GetString(payload[..10]), System.Globalization.CultureInfo.InvariantCulture) : BinaryPrimitives.ReadInt32BigEndian(payload);

    /// <summary>Sends one message as fragments of <paramref name="fragmentSize"/> bytes.</summary>
    /// <param name="message">The whole message.</param>
    /// <param name="fragmentSize">Bytes per fragment.</param>
    /// <param name="text">Text or binary.</param>
    /// <returns>Completes when the last fragment was written.</returns>
    public async Task SendFragmentedAsync(byte[] message, int fragmentSize, bool text)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fragmentSize, 1);
        var type = text ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
        var offset = 0;
        do
        {
            var length = Math.Min(fragmentSize, message.Length - offset);
            var last = offset + length == message.Length;
            await Socket.SendAsync(message.AsMemory(offset, length), type, last, Aborted).ConfigureAwait(false);
            offset += length;
        }
        while (offset < message.Length);
    }

    /// <summary>Starts the close handshake with <paramref name="code"/> and waits for the client's close.</summary>
    /// <param name="code">The close code.</param>
    /// <param name="reason">The reason.</param>
    /// <returns>Completes when the client answered (or the connection dropped).</returns>
    public async Task CloseAsync(int code, string? reason)
    {
        try
        {
            await Socket.CloseAsync((WebSocketCloseStatus)code, reason, Aborted).ConfigureAwait(false);
        }
        catch (WebSocketException)
        {
            // The client dropped instead of answering; the script is done either way.
        }
    }

    /// <summary>Sends the first fragment of a message (FIN clear) and then aborts the TCP connection.</summary>
    /// <returns>Completes after the abort.</returns>
    public async Task AbortMidMessageAsync()
    {
        await Socket.SendAsync(new byte[128], WebSocketMessageType.Binary, endOfMessage: false, Aborted).ConfigureAwait(false);
        Abort();
    }

    /// <summary>Aborts the TCP connection without a close frame; a no-op once the session has already ended.</summary>
    public void Abort()
    {
        _socket?.Abort();
        try
        {
            _context.Abort();
        }
        catch (ObjectDisposedException)
        {
            // The request already finished (the handler returned after the client closed or dropped,
            // racing the test's cut): Kestrel disposed its context and there is nothing left to abort.
            // Seen under load: a pool test cutting "every connection" hit one that had just ended.
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _socket?.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task CloseOutputQuietlyAsync(int code)
    {
        try
        {
            await Socket.CloseOutputAsync((WebSocketCloseStatus)code, null, Aborted).ConfigureAwait(false);
        }
        catch (WebSocketException)
        {
            // The client already went away.
        }
    }
}
