using BenchmarkDotNet.Attributes;
using Transport.Benchmarks.Server;
using Transport.WebSockets.Dedupe;
using Transport.WebSockets.Legs;

namespace Transport.Benchmarks.Micro;

/// <summary>
/// Redundant legs' per-frame cost on one thread: the dedupe window (a new key at the count bound, which
/// also evicts the oldest; a duplicate) and the arbiter (key selector over a 100 B payload, window, counts).
/// </summary>
[MemoryDiagnoser]
public class DedupeBenchmarks
{
    private const int Keys = 100_000;
    private DedupeWindow _window = null!;
    private LegArbiter _arbiter = null!;
    private Frame[] _frames = null!;
    private long _next;

    [GlobalSetup]
    public void Setup()
    {
        _window = new DedupeWindow(new DedupeWindowOptions { MaxKeys = Keys, MaxAge = TimeSpan.FromDays(1) }, TimeSpan.TicksPerSecond);
        for (_next = 0; _next < Keys; _next++)
        {
            _window.TryAdmit(new DedupeKey(1, _next), 0);   // full: every new key now evicts one
        }

        _frames = new Frame[4096];
        var bytes = new byte[100];
        for (int i = 0; i < _frames.Length; i++)
        {
            Payload.WriteHex(bytes, i);
            _frames[i] = Frame.Binary(bytes.ToArray());
        }

        _arbiter = new LegArbiter(
            2,
            static (in Frame f, out DedupeKey k) => { k = new DedupeKey(1, Payload.ReadSeq(f.Payload.Span)); return true; },
            new DedupeWindowOptions { MaxKeys = 1024, MaxAge = TimeSpan.FromDays(1) },
            UnkeyedFramePolicy.PrimaryOnly,
            TimeSpan.TicksPerSecond);
    }

    /// <summary>A key never seen: admitted, the oldest evicted (the window is at its count bound).</summary>
    [Benchmark(Baseline = true)]
    public bool NewKey() => _window.TryAdmit(new DedupeKey(1, _next++), 0);

    /// <summary>A copy of a key in the window: found, counted, dropped.</summary>
    [Benchmark]
    public bool Duplicate() => _window.TryAdmit(new DedupeKey(1, _next - 1 - (_next & 1023)), 0);

    /// <summary>Both legs' copies of 64 frames through the arbiter (128 offers): per offer.</summary>
    [Benchmark(OperationsPerInvoke = 128)]
    public int ArbiterTwoLegs()
    {
        int won = 0;
        int offset = (int)(_next++ & 63) * 64;
        for (int i = 0; i < 64; i++)
        {
            won += _arbiter.Offer(0, _frames[offset + i], 0, 0) == LegVerdict.Won ? 1 : 0;
            _arbiter.Offer(1, _frames[offset + i], 0, 0);
        }

        return won;
    }
}
