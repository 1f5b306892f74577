using System.Buffers;
using System.Net.WebSockets;
using Transport.Benchmarks.Infrastructure;
using Transport.Benchmarks.Server;

namespace Transport.Benchmarks.Clients;

/// <summary>
/// Runs one receive client against the server's flood: connects (untimed), starts the clock, sends
/// "go", receives exactly <c>count</c> messages checking each sequence number, stops the clock.
/// </summary>
internal static class Receivers
{
    public const int RawBufferBytes = 16 * 1024; // the stack's default receive buffer, so both read the socket alike

    public static string Name(ReceiveClient client) => client switch
    {
        ReceiveClient.RawReused => "raw, reused buffer",
        ReceiveClient.RawOwned => "raw + owned byte[]",
        ReceiveClient.LeafOnly => "leaf only (diagnostic)",
        ReceiveClient.LeafChannel or ReceiveClient.LeafRing => client.ToString(),
        ReceiveClient.StackForeach => "stack, await foreach",
        ReceiveClient.StackTryRead => "stack, WaitToRead/TryRead",
        ReceiveClient.StackBatch => "stack, ReadBatchAsync",
        ReceiveClient.StackLease => "stack, lease mode (ReadBatchAsync + Release)",
        ReceiveClient.PipeLeafOnly => "pipes leaf only (diagnostic)",
        ReceiveClient.PipeLeafOnlyLease => "pipes leaf only, lease mode (diagnostic)",
        ReceiveClient.PipeForeach => "pipes leaf, await foreach",
        ReceiveClient.PipeTryRead => "pipes leaf, WaitToRead/TryRead",
        ReceiveClient.PipeBatch => "pipes leaf, ReadBatchAsync",
        ReceiveClient.PipeLease => "pipes leaf, lease mode (ReadBatchAsync + Release)",
        ReceiveClient.WebsocketClient => "Websocket.Client 5.5.1",
        _ => client.ToString(),
    };

    public static Task<RunSample> RunAsync(ReceiveClient client, Uri uri, long count, int payloadBytes, Action<TransportOptionsBuilder>? stackOptions, CancellationToken ct) => client switch
    {
        ReceiveClient.RawReused => RawReusedAsync(uri, count, payloadBytes, ct),
        ReceiveClient.RawOwned => RawOwnedAsync(uri, count, payloadBytes, ct),
        ReceiveClient.LeafOnly => LeafOnlyAsync(uri, count, payloadBytes, ct),
        ReceiveClient.PipeLeafOnly => PipeLeafOnlyAsync(uri, count, payloadBytes, leased: false, ct),
        ReceiveClient.PipeLeafOnlyLease => PipeLeafOnlyAsync(uri, count, payloadBytes, leased: true, ct),
        ReceiveClient.LeafRing => LeafRingAsync(uri, count, payloadBytes, ct),
        ReceiveClient.LeafChannel => LeafChannelAsync(uri, count, payloadBytes, ct),
        ReceiveClient.WebsocketClient => WebsocketClientAsync(uri, count, payloadBytes, ct),
        ReceiveClient.StackForeach or ReceiveClient.PipeForeach => StackAsync(client, uri, count, payloadBytes, stackOptions, foreachLoop: true, ct),
        ReceiveClient.StackBatch or ReceiveClient.PipeBatch => StackBatchAsync(client, uri, count, payloadBytes, stackOptions, ct),
        ReceiveClient.StackLease or ReceiveClient.PipeLease => StackBatchAsync(client, uri, count, payloadBytes, o => { stackOptions?.Invoke(o); o.WithLeasedPayloads(); }, ct),
        _ => StackAsync(client, uri, count, payloadBytes, stackOptions, foreachLoop: false, ct),
    };

    private static async Task<RunSample> RawReusedAsync(Uri uri, long count, int payloadBytes, CancellationToken ct)
    {
        var socket = await Connect.RawAsync(uri, ct).ConfigureAwait(false);
        var buffer = new byte[RawBufferBytes];
        var m = Measurement.Start();
        await socket.SendAsync(Connect.Go, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        long received = 0;
        int pos = 0; // position inside the current message
        while (received < count)
        {
            // Until the 16 sequence digits are in, keep the message's start contiguous at buffer[0].
            int writeAt = pos < Payload.SeqBytes ? pos : 0;
            var result = await socket.ReceiveAsync(buffer.AsMemory(writeAt), ct).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"Server closed after {received} of {count} messages.");
            }

            if (pos < Payload.SeqBytes && pos + result.Count >= Payload.SeqBytes)
            {
                Check(Payload.ReadSeq(buffer), received);
            }

            pos += result.Count;
            if (result.EndOfMessage)
            {
                if (pos != payloadBytes)
                {
                    throw new InvalidOperationException($"Message {received} had {pos} bytes, expected {payloadBytes}.");
                }

                pos = 0;
                received++;
            }
        }

        var sample = m.Stop(Name(ReceiveClient.RawReused), received, received * payloadBytes);
        await Connect.CloseRawAsync(socket).ConfigureAwait(false);
        return sample;
    }

    private static async Task<RunSample> RawOwnedAsync(Uri uri, long count, int payloadBytes, CancellationToken ct)
    {
        var socket = await Connect.RawAsync(uri, ct).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(RawBufferBytes);
        var m = Measurement.Start();
        await socket.SendAsync(Connect.Go, WebSocketMessageType.Text, true, ct).ConfigureAwait(false);
        long received = 0;
        int pos = 0;
        byte[] last = [];
        while (received < count)
        {
            if (pos == buffer.Length)
            {
                var grown = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                buffer.AsSpan(0, pos).CopyTo(grown);
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = grown;
            }

            var result = await socket.ReceiveAsync(buffer.AsMemory(pos), ct).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                throw new InvalidOperationException($"Server closed after {received} of {count} messages.");
            }

            pos += result.Count;
            if (result.EndOfMessage)
            {
                last = buffer.AsSpan(0, pos).ToArray(); // the one owned object per message
                Check(Payload.ReadSeq(last), received);
                if (last.Length != payloadBytes)
                {
                    throw new InvalidOperationException($"Message {received} had {last.Length} bytes, expected {payloadBytes}.");
                }

                pos = 0;
                received++;
            }
        }

        var sample = m.Stop(Name(ReceiveClient.RawOwned), received, received * payloadBytes);
        GC.KeepAlive(last);
        ArrayPool<byte>.Shared.Return(buffer);
        await Connect.CloseRawAsync(socket).ConfigureAwait(false);
        return sample;
    }

    private static async Task<RunSample> WebsocketClientAsync(Uri uri, long count, int payloadBytes, CancellationToken ct)
    {
        // Its defaults, minus what would disturb a throughput run: no reconnect on a quiet minute.
        using var client = new Websocket.Client.WebsocketClient(uri)
        {
            IsReconnectionEnabled = false,
            ReconnectTimeout = null,
        };
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long received = 0;
        Exception? failure = null;
        using var subscription = client.MessageReceived.Subscribe(message =>
        {
            if (failure is not null || received >= count)
            {
                return;
            }

            try
            {
                // Text arrives decoded to a string (its default); binary as a byte[].
                long seq;
                int length;
                if (message.Text is { } text)
                {
                    seq = ReadHex(text);
                    length = text.Length; // the payload is ASCII: characters = bytes
                }
                else
                {
                    var binary = message.Binary ?? [];
                    seq = Payload.ReadSeq(binary);
                    length = binary.Length;
                }

                Check(seq, received);
                if (length != payloadBytes)
                {
                    throw new InvalidOperationException($"Message {received} had {length} bytes, expected {payloadBytes}.");
                }

                if (++received == count)
                {
                    done.TrySetResult();
                }
            }
            catch (Exception ex)
            {
                failure = ex;
                done.TrySetException(ex);
            }
        });
        await client.StartOrFail().ConfigureAwait(false);
        var m = Measurement.Start();
        client.Send("go");
        await done.Task.WaitAsync(ct).ConfigureAwait(false);
        var sample = m.Stop(Name(ReceiveClient.WebsocketClient), received, received * payloadBytes);
        await client.Stop(WebSocketCloseStatus.NormalClosure, string.Empty).ConfigureAwait(false);
        return sample;
    }

    private static long ReadHex(string text)
    {
        long value = 0;
        for (int i = 0; i < Payload.SeqBytes; i++)
        {
            int c = text[i];
            value = (value << 4) | (long)(c <= '9' ? c - '0' : c - 'a' + 10);
        }

        return value;
    }

    /// <summary>True for the clients that run the stack over the System.IO.Pipelines leaf.</summary>
    public static bool UsesPipes(ReceiveClient client) => client is ReceiveClient.PipeForeach or ReceiveClient.PipeTryRead or ReceiveClient.PipeBatch or ReceiveClient.PipeLease;

    private static async Task<RunSample> StackBatchAsync(ReceiveClient client, Uri uri, long count, int payloadBytes, Action<TransportOptionsBuilder>? stackOptions, CancellationToken ct)
    {
        await using var connection = await Connect.StackAsync(uri, stackOptions, ct, UsesPipes(client)).ConfigureAwait(false);
        var source = connection.Source;
        var batch = new Frame[64];
        var m = Measurement.Start();
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        long received = 0;
        long reads = 0;
        while (received < count)
        {
            reads++;
            int taken = await source.ReadBatchAsync(batch.AsMemory(0, (int)Math.Min(batch.Length, count - received)), ct).ConfigureAwait(false);
            if (taken == 0)
            {
                break;
            }

            for (int i = 0; i < taken; i++)
            {
                Check(Payload.ReadSeq(batch[i].Payload.Span), received);
                CheckLength(batch[i], payloadBytes, received);
                batch[i].Release(); // returns a leased payload; nothing for an owned one
                received++;
            }
        }

        var sample = m.Stop(Name(client), received, received * payloadBytes) with { FramesPerRead = (double)received / reads };
        if (received != count)
        {
            throw new InvalidOperationException($"The source ended after {received} of {count} messages.");
        }

        return sample;
    }

    private static async Task<RunSample> LeafOnlyAsync(Uri uri, long count, int payloadBytes, CancellationToken ct)
    {
        var leaf = await new Transport.WebSockets.ClientWebSocketConnector().ConnectAsync(new HandshakeRequest(uri), ct).ConfigureAwait(false);
        await using var _ = leaf.ConfigureAwait(false);
        var m = Measurement.Start();
        await leaf.Sender.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        long received = 0;
        while (received < count)
        {
            var frame = await leaf.Receiver.ReceiveAsync(ct).ConfigureAwait(false);
            Check(Payload.ReadSeq(frame.Payload.Span), received);
            CheckLength(frame, payloadBytes, received);
            received++;
        }

        var sample = m.Stop(Name(ReceiveClient.LeafOnly), received, received * payloadBytes);
        await leaf.Sender.CloseAsync(CloseCodes.NormalClosure, null, ct).ConfigureAwait(false);
        return sample;
    }

    private static async Task<RunSample> PipeLeafOnlyAsync(Uri uri, long count, int payloadBytes, bool leased, CancellationToken ct)
    {
        var options = new Transport.WebSockets.PipeWebSocketConnectorOptions { Payloads = Transport.WebSockets.Buffering.PayloadAllocator.For(leased) };
        var leaf = await new Transport.WebSockets.PipeWebSocketConnector(options).ConnectAsync(new HandshakeRequest(uri), ct).ConfigureAwait(false);
        await using var _ = leaf.ConfigureAwait(false);
        var m = Measurement.Start();
        await leaf.Sender.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        long received = 0;
        while (received < count)
        {
            var frame = await leaf.Receiver.ReceiveAsync(ct).ConfigureAwait(false);
            do
            {
                Check(Payload.ReadSeq(frame.Payload.Span), received);
                CheckLength(frame, payloadBytes, received);
                frame.Release(); // returns a leased payload; nothing for an owned one
                received++;
            }
            while (received < count && leaf.Receiver.TryReceive(out frame));
        }

        var sample = m.Stop(Name(leased ? ReceiveClient.PipeLeafOnlyLease : ReceiveClient.PipeLeafOnly), received, received * payloadBytes);
        await leaf.Sender.CloseAsync(CloseCodes.NormalClosure, null, ct).ConfigureAwait(false);
        return sample;
    }

    private static async Task<RunSample> LeafRingAsync(Uri uri, long count, int payloadBytes, CancellationToken ct)
    {
        var leaf = await new Transport.WebSockets.ClientWebSocketConnector().ConnectAsync(new HandshakeRequest(uri), ct).ConfigureAwait(false);
        await using var _ = leaf.ConfigureAwait(false);
        var ring = new Transport.WebSockets.Buffering.DropOldestRing((int)count + 1, 1L << 40);
        var m = Measurement.Start();
        await leaf.Sender.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        var producer = Task.Run(async () =>
        {
            for (long i = 0; i < count; i++)
            {
                ring.Write(await leaf.Receiver.ReceiveAsync(ct).ConfigureAwait(false));
            }
        }, ct);
        long received = 0;
        while (received < count && await ring.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (ring.TryRead(out var frame))
            {
                Check(Payload.ReadSeq(frame.Payload.Span), received);
                CheckLength(frame, payloadBytes, received);
                received++;
            }
        }

        await producer.ConfigureAwait(false);
        var sample = m.Stop(nameof(ReceiveClient.LeafRing), received, received * payloadBytes);
        await leaf.Sender.CloseAsync(CloseCodes.NormalClosure, null, ct).ConfigureAwait(false);
        return sample;
    }

    private static async Task<RunSample> LeafChannelAsync(Uri uri, long count, int payloadBytes, CancellationToken ct)
    {
        var leaf = await new Transport.WebSockets.ClientWebSocketConnector().ConnectAsync(new HandshakeRequest(uri), ct).ConfigureAwait(false);
        await using var _ = leaf.ConfigureAwait(false);
        var channel = System.Threading.Channels.Channel.CreateUnbounded<Frame>(new() { SingleReader = true, SingleWriter = true });
        var m = Measurement.Start();
        await leaf.Sender.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        var producer = Task.Run(async () =>
        {
            for (long i = 0; i < count; i++)
            {
                channel.Writer.TryWrite(await leaf.Receiver.ReceiveAsync(ct).ConfigureAwait(false));
            }
        }, ct);
        long received = 0;
        while (received < count && await channel.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (channel.Reader.TryRead(out var frame))
            {
                Check(Payload.ReadSeq(frame.Payload.Span), received);
                CheckLength(frame, payloadBytes, received);
                received++;
            }
        }

        await producer.ConfigureAwait(false);
        var sample = m.Stop(nameof(ReceiveClient.LeafChannel), received, received * payloadBytes);
        await leaf.Sender.CloseAsync(CloseCodes.NormalClosure, null, ct).ConfigureAwait(false);
        return sample;
    }

    private static async Task<RunSample> StackAsync(ReceiveClient client, Uri uri, long count, int payloadBytes, Action<TransportOptionsBuilder>? stackOptions, bool foreachLoop, CancellationToken ct)
    {
        await using var connection = await Connect.StackAsync(uri, stackOptions, ct, UsesPipes(client)).ConfigureAwait(false);
        var source = connection.Source;
        var m = Measurement.Start();
        await connection.Sink.SendAsync(Frame.Text(Connect.Go), ct).ConfigureAwait(false);
        long received = 0;
        long waits = 0;
        if (foreachLoop)
        {
            await foreach (var frame in source.WithCancellation(ct).ConfigureAwait(false))
            {
                Check(Payload.ReadSeq(frame.Payload.Span), received);
                CheckLength(frame, payloadBytes, received);
                if (++received == count)
                {
                    break;
                }
            }
        }
        else
        {
            while (received < count)
            {
                waits++;
                if (!await source.WaitToReadAsync(ct).ConfigureAwait(false))
                {
                    break;
                }

                while (received < count && source.TryRead(out var frame))
                {
                    Check(Payload.ReadSeq(frame.Payload.Span), received);
                    CheckLength(frame, payloadBytes, received);
                    received++;
                }
            }
        }

        var sample = m.Stop(Name(client), received, received * payloadBytes) with { FramesPerRead = waits > 0 ? (double)received / waits : double.NaN };
        if (received != count)
        {
            throw new InvalidOperationException($"The source ended after {received} of {count} messages.");
        }

        var snapshot = connection.Lifecycle.Current;
        if (snapshot.TotalLagged != 0 || snapshot.Epoch != 0)
        {
            throw new InvalidOperationException($"Unexpected during a throughput run: lagged {snapshot.TotalLagged}, epoch {snapshot.Epoch}.");
        }

        return sample;
    }

    private static void CheckLength(Frame frame, int payloadBytes, long index)
    {
        if (frame.Length != payloadBytes)
        {
            throw new InvalidOperationException($"Message {index} had {frame.Length} bytes, expected {payloadBytes}.");
        }
    }

    private static void Check(long seq, long expected)
    {
        if (seq != expected)
        {
            throw new InvalidOperationException($"Missing or reordered message: expected sequence {expected}, got {seq}.");
        }
    }
}
