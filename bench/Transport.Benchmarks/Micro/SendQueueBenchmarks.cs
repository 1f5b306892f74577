using BenchmarkDotNet.Attributes;
using Transport.WebSockets.Sending;

namespace Transport.Benchmarks.Micro;

/// <summary>The sink's queue on one thread: TrySend's enqueue and the writer's dequeue.</summary>
[MemoryDiagnoser]
public class SendQueueBenchmarks
{
    private SendQueue _queue = null!;
    private Frame _frame;
    private CancellationTokenSource _writerToken = null!;

    [GlobalSetup]
    public void Setup()
    {
        _frame = Frame.Text(new byte[100]);
        _queue = new SendQueue(1024, 4L * 1024 * 1024);
        _writerToken = new CancellationTokenSource();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writerToken.Dispose();
    }

    /// <summary>What TrySend + the writer cost per frame (the request object included, as TrySend creates one).</summary>
    [Benchmark]
    public bool TryEnqueueThenTryDequeue()
    {
        _queue.TryEnqueue(new SendRequest(_frame, SendOptions.Default, tracked: false));
        return _queue.TryDequeue(out _);
    }

    /// <summary>The same with a tracked request (what SendAsync creates: a TaskCompletionSource too).</summary>
    [Benchmark]
    public bool TrackedEnqueueThenTryDequeue()
    {
        _queue.TryEnqueue(new SendRequest(_frame, SendOptions.Default, tracked: true));
        return _queue.TryDequeue(out _);
    }

    /// <summary>
    /// The writer's side of one awaited SendAsync: it finds the queue empty, waits (with its
    /// cancellable session token, as the actor does), is woken by the enqueue, dequeues. The
    /// allocation here beyond TryEnqueueThenTryDequeue is the per-wait cost.
    /// </summary>
    [Benchmark]
    public async Task<bool> WriterWaitsThenIsWoken()
    {
        var waiting = _queue.WaitToReadAsync(_writerToken.Token);
        _queue.TryEnqueue(new SendRequest(_frame, SendOptions.Default, tracked: false));
        await waiting;
        return _queue.TryDequeue(out _);
    }
}
