using Transport.Mock;

namespace Transport.Tests.Mock;

public sealed class MockSocketTests
{
    private static Task<Frame> Receive(MockSocket socket, CancellationToken cancellationToken = default) =>
        socket.Receiver.ReceiveAsync(cancellationToken).AsTask();

    private static Task Send(MockSocket socket, Frame frame, CancellationToken cancellationToken = default) =>
        socket.Sender.SendAsync(frame, cancellationToken).AsTask();

    private static Task Close(MockSocket socket, int code, string? reason, CancellationToken cancellationToken = default) =>
        socket.Sender.CloseAsync(code, reason, cancellationToken).AsTask();

    [Fact]
    [Trait("Invariant", "MockSocket.M1")]
    public void M1_delivered_frames_are_received_in_order()
    {
        var socket = new MockSocket();
        socket.DeliverText("one");
        socket.DeliverBinary([1, 2, 3]);
        socket.DeliverPing([9]);
        socket.DeliverPong();
        socket.Deliver(Frame.Text("five"));
        Assert.Equal(5, socket.PendingDeliveries);

        var frames = Enumerable.Range(0, 5).Select(_ => Completed.Value(Receive(socket))).ToList();

        Assert.Equal([Frame.Text("one"), Frame.Binary(new byte[] { 1, 2, 3 }), Frame.Ping(new byte[] { 9 }), Frame.Pong(), Frame.Text("five")], frames);
        Assert.Equal(5, socket.Received);
        Assert.Equal(0, socket.PendingDeliveries);
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M1")]
    public void M1_receive_waits_until_a_delivery()
    {
        var socket = new MockSocket();

        var pending = Receive(socket);
        Assert.False(pending.IsCompleted);
        Assert.True(socket.IsReceivePending);

        socket.DeliverText("late");

        Assert.True(pending.IsCompletedSuccessfully);
        Assert.Equal("late", Completed.Value(pending).GetText());
        Assert.False(socket.IsReceivePending);
        Assert.Equal(0, socket.PendingDeliveries);
        Assert.Equal(1, socket.Received);
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M1")]
    public void M1_receive_ends_with_its_token_and_the_socket_stays_usable()
    {
        var socket = new MockSocket();
        using var cts = new CancellationTokenSource();

        var pending = Receive(socket, cts.Token);
        cts.Cancel();

        Assert.True(pending.IsCanceled);
        Assert.Equal(cts.Token, Completed.Canceled(pending).CancellationToken);
        Assert.False(socket.IsReceivePending);

        socket.DeliverText("after");
        Assert.Equal("after", Completed.Value(Receive(socket)).GetText());
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M1")]
    public void M1_a_second_concurrent_receive_is_a_caller_bug()
    {
        var socket = new MockSocket();
        _ = Receive(socket);

        Assert.Throws<InvalidOperationException>(() => socket.Receiver.ReceiveAsync(CancellationToken.None));
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M2")]
    public void M2_close_is_received_then_every_receive_throws_closed_by_peer()
    {
        var socket = new MockSocket();
        socket.DeliverText("last words");
        socket.DeliverClose(CloseCodes.GoingAway, "restart");

        Assert.Equal("last words", Completed.Value(Receive(socket)).GetText());
        var close = Completed.Value(Receive(socket));
        Assert.Equal(FrameKind.Close, close.Kind);
        Assert.Equal(CloseCodes.GoingAway, close.CloseCode);
        Assert.Equal("restart", close.CloseReason);

        for (var i = 0; i < 2; i++)
        {
            var error = Assert.IsType<TransportException>(Receive(socket).Exception?.InnerException);
            Assert.Equal(TransportErrorKind.ClosedByPeer, error.Kind);
            Assert.Equal(CloseCodes.GoingAway, error.CloseCode);
            Assert.Equal("restart", error.CloseReason);
        }
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M2")]
    public void M2_deliveries_after_the_end_are_dropped()
    {
        var socket = new MockSocket();
        socket.DeliverClose(CloseCodes.NormalClosure);
        socket.DeliverText("too late");
        socket.Disconnect();

        Assert.Equal(1, socket.PendingDeliveries);
        Assert.Equal(FrameKind.Close, Completed.Value(Receive(socket)).Kind);
        Assert.Equal(TransportErrorKind.ClosedByPeer, Assert.IsType<TransportException>(Receive(socket).Exception?.InnerException).Kind);
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M2")]
    public void M2_close_completes_a_waiting_receive()
    {
        var socket = new MockSocket();
        var pending = Receive(socket);

        socket.Deliver(Frame.Close(CloseCodes.PolicyViolation, "limit"));

        Assert.Equal(CloseCodes.PolicyViolation, Completed.Value(pending).CloseCode);
        Assert.Equal(CloseCodes.PolicyViolation, Assert.IsType<TransportException>(Receive(socket).Exception?.InnerException).CloseCode);
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M2")]
    public void M2_disconnect_comes_after_frames_already_delivered_and_is_abnormal()
    {
        var socket = new MockSocket();
        socket.DeliverText("before the drop");
        socket.Disconnect();

        Assert.Equal("before the drop", Completed.Value(Receive(socket)).GetText());
        var first = Assert.IsType<TransportException>(Receive(socket).Exception?.InnerException);
        var again = Assert.IsType<TransportException>(Receive(socket).Exception?.InnerException);

        Assert.Equal(TransportErrorKind.Connection, first.Kind);
        Assert.Equal(CloseCodes.Abnormal, first.CloseCode);
        Assert.Same(first, again);
        Assert.Equal(1, socket.Received);
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M2")]
    public void M2_fail_throws_from_the_pending_receive()
    {
        var socket = new MockSocket();
        var pending = Receive(socket);
        var error = TransportException.Protocol("bad frame");

        socket.Fail(error);

        Assert.Same(error, pending.Exception?.InnerException);
        Assert.Same(error, Receive(socket).Exception?.InnerException);
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M4")]
    public async Task M4_dispose_fails_pending_and_later_operations()
    {
        var socket = new MockSocket { SendBehavior = SendBehavior.Hang };
        var receive = Receive(socket);
        var send = Send(socket, Frame.Text("stuck"));

        await socket.DisposeAsync();
        await socket.DisposeAsync();

        Assert.True(socket.IsDisposed);
        Assert.Equal(TransportErrorKind.Connection, Assert.IsType<TransportException>(receive.Exception?.InnerException).Kind);
        Assert.Equal(TransportErrorKind.Connection, Assert.IsType<TransportException>(send.Exception?.InnerException).Kind);
        Assert.Equal(TransportErrorKind.Connection, Assert.IsType<TransportException>(Receive(socket).Exception?.InnerException).Kind);
        Assert.Equal(TransportErrorKind.Connection, Assert.IsType<TransportException>(Send(socket, Frame.Text("x")).Exception?.InnerException).Kind);
        Assert.Equal(TransportErrorKind.Connection, Assert.IsType<TransportException>(Close(socket, 1000, null).Exception?.InnerException).Kind);
        Assert.Empty(socket.Sent);
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M3")]
    public void M3_delivered_payloads_are_copied()
    {
        var socket = new MockSocket();
        var bytes = new byte[] { 1, 2, 3 };
        var ping = new byte[] { 7 };
        socket.DeliverBinary(bytes);
        socket.DeliverPing(ping);
        socket.Deliver(Frame.Binary(bytes));
        bytes[0] = 42;
        ping[0] = 42;

        Assert.Equal([1, 2, 3], Completed.Value(Receive(socket)).Payload.ToArray());
        Assert.Equal([7], Completed.Value(Receive(socket)).Payload.ToArray());
        Assert.Equal([1, 2, 3], Completed.Value(Receive(socket)).Payload.ToArray());
    }

    [Fact]
    [Trait("Invariant", "MockSocket.M3")]
    public void M3_sent_payloads_are_copied_at_send_time()
    {
        var socket = new MockSocket();
        var buffer = "abc"u8.ToArray();

        Assert.True(Send(socket, Frame.Text(buffer)).IsCompletedSuccessfully);
        Assert.True(Send(socket, Frame.Binary(buffer)).IsCompletedSuccessfully);
        buffer[0] = (byte)'z';

        Assert.Equal(["abc"], socket.SentTexts);
        Assert.Equal("abc"u8.ToArray(), socket.Sent[1].Payload.ToArray());
    }

    [Fact]
    public void Sends_are_recorded_with_pongs_and_close_frames()
    {
        var socket = new MockSocket();

        _ = Send(socket, Frame.Text("subscribe"));
        _ = Send(socket, Frame.Pong(new byte[] { 9 }));
        _ = Send(socket, Frame.Binary(new byte[] { 1 }));
        _ = Send(socket, Frame.Close(CloseCodes.NormalClosure, "bye"));

        Assert.Equal([FrameKind.Text, FrameKind.Pong, FrameKind.Binary, FrameKind.Close], socket.Sent.Select(f => f.Kind));
        Assert.Equal(["subscribe"], socket.SentTexts);
        Assert.Equal(1, socket.PongsSent);
        Assert.Equal((CloseCodes.NormalClosure, "bye"), socket.CloseSent);
        Assert.Equal(4, socket.SendAttempts);
    }

    [Fact]
    public void Send_hang_records_nothing_and_ends_with_its_token()
    {
        var socket = new MockSocket { SendBehavior = SendBehavior.Hang };
        using var cts = new CancellationTokenSource();

        var send = Send(socket, Frame.Text("stuck"), cts.Token);
        Assert.False(send.IsCompleted);
        cts.Cancel();

        Assert.True(send.IsCanceled);
        Assert.Empty(socket.Sent);

        socket.SendBehavior = SendBehavior.Complete;
        Assert.True(Send(socket, Frame.Text("flows")).IsCompletedSuccessfully);
        Assert.Equal(["flows"], socket.SentTexts);
    }

    [Fact]
    public void Send_fail_throws_the_configured_error_and_records_nothing()
    {
        var error = TransportException.Connection("broken pipe");
        var socket = new MockSocket { SendBehavior = SendBehavior.Fail, SendError = error };

        var send = Send(socket, Frame.Text("lost"));

        Assert.Same(error, send.Exception?.InnerException);
        Assert.Empty(socket.Sent);
        Assert.Equal(1, socket.SendAttempts);
    }

    [Fact]
    public void Close_complete_records_the_first_close()
    {
        var socket = new MockSocket();

        Assert.True(Close(socket, CloseCodes.NormalClosure, "done").IsCompletedSuccessfully);
        _ = Close(socket, CloseCodes.GoingAway, "again");

        Assert.Equal((CloseCodes.NormalClosure, "done"), socket.CloseSent);
        Assert.Empty(socket.Sent);
    }

    [Fact]
    public void Close_hang_records_the_close_and_ends_with_its_token()
    {
        var clock = new ManualTimeProvider();
        var socket = new MockSocket { CloseBehavior = CloseBehavior.Hang };
        using var closeTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), clock);

        var close = Close(socket, CloseCodes.NormalClosure, null, closeTimeout.Token);
        Assert.False(close.IsCompleted);
        Assert.Equal((CloseCodes.NormalClosure, (string?)null), socket.CloseSent);

        clock.Advance(TimeSpan.FromSeconds(2));

        Assert.True(close.IsCanceled);
    }

    [Fact]
    public void Close_fail_throws_the_configured_error_and_records_nothing()
    {
        var error = TransportException.Timeout("no close from peer");
        var socket = new MockSocket { CloseBehavior = CloseBehavior.Fail, CloseError = error };

        var close = Close(socket, CloseCodes.NormalClosure, null);

        Assert.Same(error, close.Exception?.InnerException);
        Assert.Null(socket.CloseSent);
    }

    [Fact]
    public void ToString_never_shows_payloads()
    {
        var socket = new MockSocket();
        socket.DeliverText("secret-inbound");
        _ = Send(socket, Frame.Text("secret-outbound"));

        Assert.DoesNotContain("secret", socket.ToString(), StringComparison.Ordinal);
        Assert.Contains("sent=1", socket.ToString(), StringComparison.Ordinal);
    }
}
