using BenchmarkDotNet.Attributes;
using Transport.WebSockets.Sending;

namespace Transport.Benchmarks.Micro;

/// <summary>The sink's queue on one thread: TrySend's enqueue and the writer's dequeue.</summary>
[MemoryDiagnoser]
public class SendQueueBenchmarks
{
    private SendQueue _queue = null!;
    private Frame _frame;

    [GlobalSetup]
    public void Setup()
    {
        _frame = Frame.Text(new byte[100]);
        _queue = new SendQueue(1024, 4L * 1024 * 1024);
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
}
