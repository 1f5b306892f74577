using Transport.IntegrationTests.Stack;
using Transport.Testing;

namespace Transport.IntegrationTests.Faults;

/// <summary>
/// Hostile server input over a real socket (hand-written frames via <see cref="RawWebSocketWriter"/>): each
/// closes that connection with the right code (as the server sees it) and a classified error, the stack
/// reconnects to a well-behaved feed, and a second, independent connection in the same process keeps
/// receiving, unaffected.
/// </summary>
public sealed class HostileServerTests : IAsyncLifetime
{
    private FeedServer _hostile = null!;
    private FeedServer _bystanderServer = null!;
    private StackClient _bystander = null!;

    public async Task InitializeAsync()
    {
        _hostile = await FeedServer.StartAsync();
        _bystanderServer = await FeedServer.StartAsync();
        _bystander = await StackClient.StartAsync(_bystanderServer.Uri);
        await _bystander.WaitForFramesAsync(1, 20);
    }

    public async Task DisposeAsync()
    {
        await _bystander.DisposeAsync();
        await _bystanderServer.DisposeAsync();
        await _hostile.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task An_oversized_message_closes_1009_with_MessageTooBig(LeafKind leaf)
    {
        ScriptFirstConnection(raw => raw.WriteBinaryAsync(new byte[4096]));
        await AssertClosedClassifiedAndRecoveredAsync(leaf, o => o.WithMaxMessageSize(1024), CloseCodes.MessageTooBig, TransportErrorKind.MessageTooBig);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task Invalid_utf8_closes_1007_with_Protocol(LeafKind leaf)
    {
        ScriptFirstConnection(raw => raw.WriteTextAsync([(byte)'o', (byte)'k', 0xC3, 0x28]));
        await AssertClosedClassifiedAndRecoveredAsync(leaf, null, CloseCodes.InvalidPayload, TransportErrorKind.Protocol, platformDetected: true);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task A_malformed_close_frame_closes_1002_with_Protocol(LeafKind leaf)
    {
        ScriptFirstConnection(raw => raw.WriteFrameAsync(RawWebSocketWriter.OpClose, fin: true, payload: new byte[] { 0x03 }));
        await AssertClosedClassifiedAndRecoveredAsync(leaf, null, CloseCodes.ProtocolError, TransportErrorKind.Protocol, platformDetected: true);
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task A_ping_flood_is_answered_then_an_oversized_ping_closes_1002_with_Protocol(LeafKind leaf)
    {
        const int pings = 5_000;
        var pongs = 0;
        var allAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _hostile.Script(1, async s =>
        {
            var raw = await s.AcceptRawAsync();

            // Read concurrently: the client answers every ping, and unread pongs would stall both sides.
            var reading = Task.Run(async () =>
            {
                while (await raw.ReadFrameAsync(s.Aborted) is { } frame)
                {
                    if (frame.Opcode == RawWebSocketWriter.OpPong)
                    {
                        if (Interlocked.Increment(ref pongs) == pings)
                        {
                            allAnswered.TrySetResult();
                        }
                    }
                    else if (frame.Opcode == RawWebSocketWriter.OpClose)
                    {
                        return frame.CloseCode;
                    }
                }

                return (int?)null;
            });
            for (var i = 0; i < pings; i++)
            {
                await raw.WritePingAsync([(byte)i]);
            }

            await raw.WriteTextAsync(FeedFrame.Encode(1, 0, 64));

            // Every ping answered before the violation: a leaf that surfaces pings answers them through
            // the stack's pong lane, which the violation's close would otherwise overtake.
            await allAnswered.Task.WaitAsync(TimeSpan.FromSeconds(30), s.Aborted);
            await raw.WriteFrameAsync(RawWebSocketWriter.OpPing, fin: true, payload: new byte[126]); // control frames carry at most 125 bytes
            _hostile.RecordClose(1, await ReadCloseQuietlyAsync(reading));
            raw.Abort();
        });

        var client = await AssertClosedClassifiedAndRecoveredAsync(leaf, null, CloseCodes.ProtocolError, TransportErrorKind.Protocol, platformDetected: true);

        // The server sent the oversized ping only once it had read every pong.
        Assert.Equal(pings, Volatile.Read(ref pongs));
        Assert.Equal(1, client.DeliveredOn(1)); // the frame after the flood got through before the violation
    }

    [Theory]
    [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
    public async Task A_50_MB_message_against_the_default_16_MiB_limit_closes_1009_with_MessageTooBig(LeafKind leaf)
    {
        ScriptFirstConnection(raw => raw.WriteBinaryAsync(new byte[50 * 1024 * 1024]));
        await AssertClosedClassifiedAndRecoveredAsync(leaf, null, CloseCodes.MessageTooBig, TransportErrorKind.MessageTooBig);
    }

    private static async Task<int?> ReadCloseQuietlyAsync(Task<int?> reading)
    {
        try
        {
            return await reading.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Connection 1 writes <paramref name="hostile"/> (aside: the client may stop reading mid-write) and records the client's close code.</summary>
    private void ScriptFirstConnection(Func<RawWebSocketWriter, Task> hostile)
    {
        _hostile.Script(1, async s =>
        {
            var raw = await s.AcceptRawAsync();
            var writing = hostile(raw);
            int? code = null;
            try
            {
                code = await raw.ReadUntilCloseAsync(s.Aborted);
            }
            catch (OperationCanceledException)
            {
                // Reset before the close frame could be read (see the remarks on the class).
            }
            finally
            {
                _hostile.RecordClose(1, code);
            }

            raw.Abort();
            try
            {
                await writing;
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The client closed while the server was still writing.
            }
        });
    }

    private async Task<StackClient> AssertClosedClassifiedAndRecoveredAsync(LeafKind leaf, Action<TransportOptionsBuilder>? configure, int serverSees, TransportErrorKind kind, bool platformDetected = false)
    {
        var bystanderBefore = _bystander.DeliveredOn(1);
        await using var client = await StackClient.StartAsync(_hostile.Uri, o =>
        {
            configure?.Invoke(o);
            o.WithLeaf(leaf);
        });

        await _hostile.WaitUntilAsync(s => s.SawCloseOn(1), StackClient.Bound, "the hostile connection closed");

        // When the leaf detects the violation (message size) it sends the close and waits (bounded) for
        // the peer's before tearing down, so the server reads the code. When ClientWebSocket detects
        // it itself (invalid UTF-8, malformed close, oversized ping) it sends the close and aborts at
        // once; with hostile bytes still unread that abort is a TCP reset, which under load can reach
        // the server before it reads the close frame. Then the server sees no code (null), never a
        // wrong one. The client-side classification is asserted strictly either way.
        var seen = _hostile.CloseCodeSeenOn(1);
        if (platformDetected)
        {
            Assert.True(seen is null || seen == serverSees, $"server saw {seen}");
        }
        else
        {
            Assert.Equal(serverSees, seen);
        }
        var resumed = await client.WaitUpAsync(1);

        // Session.S9: without an initializer the up-edge is published before the socket is read, so even a
        // socket the hostile server ends at once went up first: the next up-edge is Resumed on epoch 1.
        Assert.Equal(ConnectionPhase.Resumed, resumed.Phase);
        Assert.Equal(kind, resumed.LastError?.Kind);
        await client.WaitForFramesAsync(2, 30);
        await client.ShutdownAsync();
        Assert.Equal(1, client.Current.Epoch);
        client.AssertConservedAndOrdered();

        // The bystander never noticed: same epoch, one attempt, still receiving, gap-free.
        await _bystander.WaitForFramesAsync(1, bystanderBefore + 50);
        Assert.Equal(0, _bystander.Current.Epoch);
        Assert.Equal(1, _bystander.Current.Attempts);
        Assert.Equal(ConnectionPhase.Connected, _bystander.Current.Phase);
        StackClient.AssertOrdered(_bystander.Delivered, gapFree: true);
        return client;
    }
}
