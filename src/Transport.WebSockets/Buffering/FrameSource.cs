using System.Runtime.CompilerServices;

namespace Transport.WebSockets.Buffering;

/// <summary>The adapter-facing receive side over the actor's <see cref="DropOldestRing"/>.</summary>
internal sealed class FrameSource : IFrameSource
{
    private readonly DropOldestRing _ring;

    public FrameSource(DropOldestRing ring) => _ring = ring;

    public int Count => _ring.Count;

    public long BufferedBytes => _ring.Bytes;

    public bool TryRead(out Frame frame) => _ring.TryRead(out frame);

    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => _ring.WaitToReadAsync(cancellationToken);

    public async IAsyncEnumerator<Frame> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        while (await _ring.WaitToReadAsync(cancellationToken))
        {
            while (_ring.TryRead(out var frame))
            {
                yield return frame;
            }
        }
    }
}
