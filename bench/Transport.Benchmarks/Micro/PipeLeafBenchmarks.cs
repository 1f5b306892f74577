using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Transport.WebSockets.Buffering;
using Transport.WebSockets.Pipelines;

namespace Transport.Benchmarks.Micro;

/// <summary>
/// The Pipelines leaf's receive cost per 100 B text message on one thread, no socket: 64 pre-framed
/// messages are written to a Pipe, then parsed (ReceiveAsync for the first, TryReceive for the rest,
/// as the receive loop does), owned or leased (each leased frame released at once). Then the
/// stack's hand-off for the same 64 frames: one ring WriteBatch and one TryReadBatch.
/// </summary>
[MemoryDiagnoser]
public class PipeLeafBenchmarks
{
    private const int Frames = 64;
    private Pipe _input = null!;
    private FrameReader _reader = null!;
    private byte[] _bytes = [];
    private DropOldestRing _ring = null!;
    private readonly Frame[] _batch = new Frame[Frames];

    /// <summary>Lease mode (pooled payloads) or owned arrays.</summary>
    [Params(false, true)]
    public bool Leased { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _input = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var output = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writer = new FrameWriter(output.Writer, null, TimeProvider.System, _ => { });
        _reader = new FrameReader(_input.Reader, writer, 1024 * 1024, 16 * 1024, TimeProvider.System, null, null, payloads: PayloadAllocator.For(Leased));
        var one = new byte[102];
        one[0] = 0x81;
        one[1] = 100;
        one.AsSpan(2).Fill((byte)'x');
        _bytes = [.. Enumerable.Repeat(one, Frames).SelectMany(b => b)];
        _ring = new DropOldestRing(1024, 64L * 1024 * 1024);
    }

    /// <summary>Parse 64 messages (the leaf's part of the receive path).</summary>
    [Benchmark(OperationsPerInvoke = Frames)]
    public int Parse()
    {
        _input.Writer.Write(_bytes);
        _input.Writer.FlushAsync().GetAwaiter().GetResult();
        int n = 0;
        var frame = _reader.ReceiveAsync(CancellationToken.None).GetAwaiter().GetResult();
        do
        {
            n += frame.Length;
            frame.Release();
        }
        while (_reader.TryReceive(out frame));
        return n;
    }

    /// <summary>Parse 64 messages, hand them to the ring in one batch and read them back in one batch (single thread).</summary>
    [Benchmark(OperationsPerInvoke = Frames)]
    public int ParseAndHandOff()
    {
        _input.Writer.Write(_bytes);
        _input.Writer.FlushAsync().GetAwaiter().GetResult();
        int count = 0;
        _batch[count++] = _reader.ReceiveAsync(CancellationToken.None).GetAwaiter().GetResult().WithEpoch(1);
        while (count < Frames && _reader.TryReceive(out var frame))
        {
            _batch[count++] = frame.WithEpoch(1);
        }

        _ring.WriteBatch(_batch.AsSpan(0, count));
        _batch.AsSpan(0, count).Clear();
        int read = _ring.TryReadBatch(_batch, long.MaxValue);
        int n = 0;
        for (int i = 0; i < read; i++)
        {
            n += _batch[i].Length;
            _batch[i].Release();
        }

        return n;
    }
}
