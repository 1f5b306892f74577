using System.Net.WebSockets;
using System.Text;
using Transport.Testing;
using Transport.WebSockets;
using static Transport.IntegrationTests.Leaf.LeafTestKit;

namespace Transport.IntegrationTests.Leaf;

/// <summary>The leaf's data path: whole messages in and out, reassembly, the size limit, UTF-8.</summary>
public sealed class LeafMessageTests
{
    [Fact]
    public async Task Text_and_binary_messages_round_trip_through_an_echo_server()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.EchoAsync();
        });
        await using var connection = await ConnectAsync(server);
        var binary = new byte[] { 0, 1, 2, 255, 254 };

        await connection.Sender.SendAsync(Frame.Text("héllo ✓"), CancellationToken.None);
        var text = await connection.ReceiveAsync();
        await connection.Sender.SendAsync(Frame.Binary(binary), CancellationToken.None);
        var bin = await connection.ReceiveAsync();

        Assert.Equal(FrameKind.Text, text.Kind);
        Assert.Equal("héllo ✓", text.GetText());
        Assert.Equal(FrameKind.Binary, bin.Kind);
        Assert.Equal(binary, bin.Payload.ToArray());
    }

    [Fact]
    [Trait("Invariant", "Receiver.R1")]
    public async Task A_1MiB_message_in_4KiB_fragments_is_reassembled_byte_exact()
    {
        var message = new byte[1024 * 1024];
        new Random(1234).NextBytes(message);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.SendFragmentedAsync(message, 4096, text: false);
            await s.WaitForCloseAsync();
        });
        await using var connection = await ConnectAsync(server, new ClientWebSocketConnectorOptions { ReceiveBufferBytes = 4096 });

        var frame = await connection.ReceiveAsync();

        Assert.Equal(FrameKind.Binary, frame.Kind);
        Assert.True(message.AsSpan().SequenceEqual(frame.Payload.Span));
    }

    [Fact]
    [Trait("Invariant", "Receiver.R1")]
    public async Task Fragmented_text_split_inside_multibyte_characters_is_reassembled()
    {
        // 3-byte characters in 4-byte fragments: most fragments end mid-character.
        var text = string.Concat(Enumerable.Repeat("€uro✓", 2000));
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.SendFragmentedAsync(Encoding.UTF8.GetBytes(text), 4, text: true);
            await s.WaitForCloseAsync();
        });
        await using var connection = await ConnectAsync(server, new ClientWebSocketConnectorOptions { ReceiveBufferBytes = 16 });

        var frame = await connection.ReceiveAsync();

        Assert.Equal(text, frame.GetText());
    }

    [Fact]
    public async Task Flooded_messages_arrive_whole_and_in_order_each_in_its_own_array()
    {
        const int count = 500;
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.FloodAsync(count, 100, text: false);
            await s.WaitForCloseAsync();
        });
        await using var connection = await ConnectAsync(server);

        var frames = new List<Frame>();
        for (var i = 0; i < count; i++)
        {
            frames.Add(await connection.ReceiveAsync());
        }

        Assert.Equal(Enumerable.Range(0, count), frames.Select(f => ServerSession.ReadSequence(f.Payload.Span, text: false)));
        Assert.All(frames, f => Assert.Equal(100, f.Length));

        // The frame owns its payload: later receives never overwrite an earlier frame.
        Assert.Equal(0, ServerSession.ReadSequence(frames[0].Payload.Span, text: false));
    }

    [Fact]
    [Trait("Invariant", "Receiver.R2")]
    public async Task A_message_of_exactly_the_limit_is_accepted()
    {
        const int limit = 10_000;
        var message = new byte[limit];
        new Random(7).NextBytes(message);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.SendFragmentedAsync(message, 3000, text: false);
            await s.WaitForCloseAsync();
        });
        await using var connection = await ConnectAsync(server, new ClientWebSocketConnectorOptions { MaxMessageBytes = limit, ReceiveBufferBytes = 1024 });

        var frame = await connection.ReceiveAsync();

        Assert.True(message.AsSpan().SequenceEqual(frame.Payload.Span));
    }

    [Fact]
    [Trait("Invariant", "Receiver.R3")]
    public async Task Invalid_utf8_text_fails_with_Protocol_and_the_server_sees_1007()
    {
        var serverSawClose = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync();
            await raw.WriteTextAsync([(byte)'o', (byte)'k', 0xC3, 0x28]);
            serverSawClose.TrySetResult(await raw.ReadUntilCloseAsync(s.Aborted));
        });
        await using var connection = await ConnectAsync(server);

        var error = await connection.ReceiveFailsAsync();

        Assert.Equal(TransportErrorKind.Protocol, error.Kind);
        Assert.Equal(CloseCodes.InvalidPayload, error.CloseCode);
        Assert.Equal(CloseCodes.InvalidPayload, await serverSawClose.Task.WaitAsync(Bound));
    }

    [Fact]
    public async Task A_reserved_opcode_fails_with_Protocol()
    {
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync();
            await raw.WriteFrameAsync(opcode: 0x3, fin: true, payload: new byte[] { 1, 2, 3 });
            await raw.ReadUntilCloseAsync(s.Aborted);
        });
        await using var connection = await ConnectAsync(server);

        var error = await connection.ReceiveFailsAsync();

        Assert.Equal(TransportErrorKind.Protocol, error.Kind);
        Assert.Equal(CloseCodes.ProtocolError, error.CloseCode);
    }

    [Fact]
    public async Task A_malformed_close_frame_fails_with_Protocol_and_the_server_sees_1002()
    {
        var serverSawClose = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync();
            await raw.WriteFrameAsync(RawWebSocketWriter.OpClose, fin: true, payload: new byte[] { 0x03 }); // a 1-byte close payload is illegal
            serverSawClose.TrySetResult(await raw.ReadUntilCloseAsync(s.Aborted));
        });
        await using var connection = await ConnectAsync(server);

        var error = await connection.ReceiveFailsAsync();

        Assert.Equal(TransportErrorKind.Protocol, error.Kind);
        Assert.Equal(CloseCodes.ProtocolError, await serverSawClose.Task.WaitAsync(Bound));
    }

    [Fact]
    public async Task An_oversized_length_header_fails_with_MessageTooBig_without_allocating_it()
    {
        var serverSawClose = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync();

            // Announces 1 GiB but sends 64 KiB: the leaf must give up after the limit, not wait or allocate.
            await raw.WriteFrameAsync(RawWebSocketWriter.OpBinary, fin: true, payload: new byte[64 * 1024], declaredLength: 1L << 30);
            serverSawClose.TrySetResult(await raw.ReadUntilCloseAsync(s.Aborted));
        });
        await using var connection = await ConnectAsync(server, new ClientWebSocketConnectorOptions { MaxMessageBytes = 32 * 1024 });

        var before = GC.GetTotalAllocatedBytes(precise: true);
        var error = await connection.ReceiveFailsAsync();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.Equal(TransportErrorKind.MessageTooBig, error.Kind);
        Assert.Equal(CloseCodes.MessageTooBig, await serverSawClose.Task.WaitAsync(Bound));
        Assert.True(allocated < 4 * 1024 * 1024, $"allocated {allocated} bytes");
    }

    [Fact]
    [Trait("Invariant", "Receiver.R5")]
    public async Task Server_pings_are_answered_by_the_leaf_and_never_surfaced()
    {
        var pongs = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            var raw = await s.AcceptRawAsync();
            for (var i = 0; i < 50; i++)
            {
                await raw.WritePingAsync([(byte)i]);
            }

            await raw.WriteTextAsync("after pings"u8.ToArray());
            var answered = 0;
            while (answered < 50 && await raw.ReadFrameAsync(s.Aborted) is { } frame)
            {
                answered += frame.Opcode == RawWebSocketWriter.OpPong ? 1 : 0;
            }

            pongs.TrySetResult(answered);
            await raw.ReadUntilCloseAsync(s.Aborted);
        });
        await using var connection = await ConnectAsync(server);

        var frame = await connection.ReceiveAsync();

        Assert.Equal("after pings", frame.GetText());
        Assert.Equal(50, await pongs.Task.WaitAsync(Bound));
    }

    [Fact]
    [Trait("Invariant", "Receiver.R6")]
    public async Task TryReceive_yields_only_whole_messages_and_mixed_with_receives_loses_none()
    {
        const int count = 500;
        await using var server = await LoopbackServer.StartAsync(async s =>
        {
            await s.AcceptAsync();
            await s.FloodAsync(count, 100, text: false);
            await s.WaitForCloseAsync();
        });
        await using var connection = await ConnectAsync(server);

        // Awaited receives interleaved with synchronous drains: every message arrives once, whole, in order,
        // whichever path took it; a false TryReceive consumes nothing.
        var frames = new List<Frame>();
        while (frames.Count < count)
        {
            frames.Add(await connection.ReceiveAsync());
            while (frames.Count < count && connection.Receiver.TryReceive(out var frame))
            {
                frames.Add(frame);
            }
        }

        Assert.Equal(Enumerable.Range(0, count), frames.Select(f => ServerSession.ReadSequence(f.Payload.Span, text: false)));
        Assert.All(frames, f => Assert.Equal(100, f.Length));
        Assert.False(connection.Receiver.TryReceive(out _));
    }
}
