using Transport.Mock;
using Transport.Tests.Actor;

namespace Transport.Tests.Sending;

/// <summary>
/// Send.V1 (issue 26, item 6): a Text frame that is not valid UTF-8 is refused at the call by every sink,
/// the session initializer's included, and never reaches a socket.
/// </summary>
public sealed class SendValidationTests
{
    private static readonly Frame NotUtf8 = Frame.Text(new byte[] { (byte)'o', (byte)'k', 0xC3, 0x28 });

    [Fact]
    [Trait("Invariant", "Send.V1")]
    public void A_text_frame_that_is_not_valid_utf8_is_refused_by_the_connection_sink_and_never_written()
    {
        var h = ActorHarness.Start();
        h.Pump();

        Assert.Equal(SendStatus.Invalid, h.Connection.Sink.TrySend(NotUtf8));
        var thrown = Assert.Throws<ArgumentException>(() => { _ = h.Connection.Sink.SendAsync(NotUtf8); });
        var batch = Assert.Throws<ArgumentException>(() => { _ = h.Connection.Sink.SendBatchAsync([Frame.Text("fine"), NotUtf8]); });
        Assert.Equal(SendStatus.Accepted, h.Connection.Sink.TrySend(Frame.Binary(NotUtf8.Payload))); // the same bytes as Binary are fine
        h.Pump();

        Assert.Contains("byte 2 of this 4-byte payload", thrown.Message, StringComparison.Ordinal);
        Assert.Contains("Frame 1 of the batch", batch.Message, StringComparison.Ordinal);
        Assert.Equal(0L, h.Connection.Sink.FailedAfterAccept);
        Assert.Equal([FrameKind.Binary], h.Socket.Sent.Select(f => f.Kind));
    }

    [Fact]
    [Trait("Invariant", "Send.V1")]
    public void The_session_initializers_sink_refuses_it_too_while_writing_direct()
    {
        var refusals = new List<string>();
        var initializer = SessionInitializers.From((context, _) =>
        {
            refusals.Add(context.Sink.TrySend(NotUtf8).ToString());
            refusals.Add(Record(() => context.Sink.SendAsync(NotUtf8)));
            refusals.Add(Record(() => context.Sink.SendBatchAsync([NotUtf8])));
            return context.Sink.SendAsync(Frame.Text("login"));
        });
        var h = ActorHarness.Start(builder: b => b.WithSessionInitializer(initializer));
        h.Pump();

        Assert.Equal(["Invalid", nameof(ArgumentException), nameof(ArgumentException)], refusals);
        Assert.Equal(["login"], h.Socket.SentTexts);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
    }

    private static string Record(Func<ValueTask> send)
    {
        try
        {
            _ = send();
            return "accepted";
        }
        catch (Exception ex)
        {
            return ex.GetType().Name;
        }
    }
}
