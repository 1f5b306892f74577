using Transport;

namespace Transport.Tests.Buffering;

/// <summary>Frames whose identity survives the ring: each payload carries a sequence number.</summary>
internal static class RingFrames
{
    /// <summary>A binary frame of <paramref name="size"/> bytes (at least 4) whose first 4 bytes are <paramref name="id"/>.</summary>
    public static Frame Numbered(int id, int size = 4, bool text = false)
    {
        var payload = new byte[Math.Max(size, 4)];
        BitConverter.TryWriteBytes(payload, id);
        return text ? Frame.Text(payload) : Frame.Binary(payload);
    }

    /// <summary>The sequence number written by <see cref="Numbered"/>.</summary>
    public static int IdOf(Frame frame) => BitConverter.ToInt32(frame.Payload.Span);

    /// <summary>Reads everything buffered now, as ids.</summary>
    public static List<int> DrainIds(this Transport.WebSockets.Buffering.DropOldestRing ring)
    {
        var ids = new List<int>();
        while (ring.TryRead(out Frame frame))
        {
            ids.Add(IdOf(frame));
        }

        return ids;
    }

    /// <summary>
    /// The result of a wait that must already have completed: asserts it did (no blocking), then
    /// reads it. Reading a pending ring wait would be misuse of its reusable source.
    /// </summary>
    public static bool CompletedResult(this ValueTask<bool> wait)
    {
        Assert.True(wait.IsCompleted, "the ring wait was expected to have completed synchronously");
        return wait.GetAwaiter().GetResult();
    }

    /// <summary>I4 at a quiescent point.</summary>
    public static void AssertConserved(this Transport.WebSockets.Buffering.DropOldestRing ring) =>
        Assert.Equal(ring.TotalWritten, ring.TotalRead + ring.TotalLagged + ring.Count);
}
