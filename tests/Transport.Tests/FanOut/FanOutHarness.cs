using Transport;
using Transport.Mock;
using Transport.Tests.Buffering;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.FanOut;

namespace Transport.Tests.FanOut;

/// <summary>A fan-out over a plain receive ring, pumped by hand: write to the source, pump, assert.</summary>
internal sealed class FanOutHarness
{
    public FanOutHarness(int sourceFrames = 100_000, long sourceBytes = 1L << 30, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        SourceRing = new DropOldestRing(sourceFrames, sourceBytes);
        Spawner = new ManualSpawner();
        FanOut = new FrameFanOut(new FrameSource(SourceRing), Spawner, logger);
    }

    public DropOldestRing SourceRing { get; }

    public ManualSpawner Spawner { get; }

    public FrameFanOut FanOut { get; }

    public FrameFanOut Start()
    {
        FanOut.Start();
        Spawner.RunUntilIdle();
        return FanOut;
    }

    /// <summary>Writes frames <paramref name="from"/>..<paramref name="from"/>+<paramref name="count"/>-1 to the source and pumps.</summary>
    public void Publish(int from, int count, int size = 4)
    {
        for (int id = from; id < from + count; id++)
        {
            SourceRing.Write(RingFrames.Numbered(id, size));
        }

        Spawner.RunUntilIdle();
    }

    public void Publish(Frame frame)
    {
        SourceRing.Write(frame);
        Spawner.RunUntilIdle();
    }

    public static List<int> Drain(FanOutSubscriber subscriber)
    {
        var ids = new List<int>();
        while (subscriber.TryRead(out Frame frame))
        {
            ids.Add(RingFrames.IdOf(frame));
        }

        return ids;
    }

    public static void AssertConserved(FanOutSubscriber subscriber)
    {
        FanOutSubscriberStats s = subscriber.Stats;
        Assert.Equal(s.Offered, s.Delivered + s.Dropped + s.Buffered);
    }
}
