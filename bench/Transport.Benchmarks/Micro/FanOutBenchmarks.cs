using BenchmarkDotNet.Attributes;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.FanOut;
using Transport.WebSockets.Sending;

namespace Transport.Benchmarks.Micro;

/// <summary>
/// Fan-out and batch-send costs on one thread (issue 16).
/// <para>
/// FanOutOfferAndRead: one 100 B frame offered to N subscribers (what the pump does per frame) and read
/// back by each; the cost per extra subscriber is the slope over N.
/// </para>
/// <para>
/// Batch vs singles: ten 100 B frames through the send queue as one SendBatchAsync request (one queue
/// entry, one completion) or as ten tracked SendAsync requests; the writer's dequeue included, the
/// socket write not (the same for both).
/// </para>
/// </summary>
[MemoryDiagnoser]
public class FanOutBenchmarks
{
    private FanOutSubscriber[] _subscribers = [];
    private Frame _frame;
    private Frame[] _ten = [];
    private SendQueue _queue = null!;

    /// <summary>Subscribers attached to the fan-out.</summary>
    [Params(1, 2, 4, 8)]
    public int Subscribers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _frame = Frame.Binary(new byte[100]);
        _ten = [.. Enumerable.Range(0, 10).Select(_ => Frame.Text(new byte[100]))];
        var fanOut = new FrameFanOut(new FrameSource(new DropOldestRing(1024, 1L << 20)));
        _subscribers = [.. Enumerable.Range(0, Subscribers).Select(_ => fanOut.Subscribe(new FanOutSubscriberOptions { CapacityFrames = 1024 }))];
        _queue = new SendQueue(1024, 4L * 1024 * 1024);
    }

    /// <summary>The pump's per-frame work for N subscribers, plus each subscriber's read.</summary>
    [Benchmark]
    public int FanOutOfferAndRead()
    {
        int read = 0;
        foreach (var subscriber in _subscribers)
        {
            subscriber.Offer(_frame);
        }

        foreach (var subscriber in _subscribers)
        {
            read += subscriber.TryRead(out _) ? 1 : 0;
        }

        return read;
    }

    /// <summary>Ten frames as one batch request: enqueue and dequeue.</summary>
    [Benchmark]
    public bool BatchOfTen()
    {
        _queue.TryEnqueue(new SendRequest(_ten, 1_000, SendOptions.Default));
        return _queue.TryDequeue(out _);
    }

    /// <summary>Ten frames as ten tracked requests: enqueue and dequeue each.</summary>
    [Benchmark]
    public bool TenSingles()
    {
        bool ok = true;
        foreach (var frame in _ten)
        {
            _queue.TryEnqueue(new SendRequest(frame, SendOptions.Default, tracked: true));
            ok &= _queue.TryDequeue(out _);
        }

        return ok;
    }
}
