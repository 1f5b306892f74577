using System.Threading.Channels;
using Transport;

namespace Samples.Tests.Adapters;

/// <summary>
/// A hand-driven <see cref="ReconnectingConnection"/>: the test publishes lifecycle snapshots,
/// pushes frames, and reads what the adapter sent with which options. For behaviours that need
/// a precise lifecycle (a TotalLagged advance) rather than a real venue.
/// </summary>
internal sealed class FakeConnection
{
    private readonly Lifecycle _lifecycle = new();
    private readonly Sink _sink = new();
    private readonly Channel<Frame> _frames = Channel.CreateUnbounded<Frame>();

    public FakeConnection()
    {
        Connection = new ReconnectingConnection("fake", _sink, new Source(_frames.Reader), _lifecycle, new Control());
    }

    public ReconnectingConnection Connection { get; }

    public Channel<(string Text, SendOptions Options)> Sent => _sink.Sent;

    public void Publish(Func<LifecycleSnapshot, LifecycleSnapshot> change) => _lifecycle.Publish(change);

    /// <summary>A session context for a new socket of <paramref name="epoch"/>: what the transport hands the initializer.</summary>
    public ISessionContext Context(long epoch) => new SessionContext(epoch, _sink);

    public void Push(string json) => _frames.Writer.TryWrite(Frame.Text(json));

    public async Task<(string Text, SendOptions Options)> NextSentAsync() =>
        await _sink.Sent.Reader.ReadAsync().AsTask().WaitAsync(Eventually.Bound);

    private sealed class Lifecycle : ILifecycleChannel
    {
        private readonly object _gate = new();
        private LifecycleSnapshot _current = LifecycleSnapshot.Initial;
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LifecycleSnapshot Current { get { lock (_gate) return _current; } }

        public Task Completion => Task.CompletedTask;

        public void Publish(Func<LifecycleSnapshot, LifecycleSnapshot> change)
        {
            TaskCompletionSource fire;
            lock (_gate)
            {
                _current = change(_current) with { Version = _current.Version + 1 };
                fire = _changed;
                _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            fire.TrySetResult();
        }

        public async ValueTask<LifecycleSnapshot> WaitAsync(Func<LifecycleSnapshot, bool> predicate, CancellationToken cancellationToken = default)
        {
            while (true)
            {
                Task signal;
                LifecycleSnapshot now;
                lock (_gate) (signal, now) = (_changed.Task, _current);
                if (predicate(now)) return now;
                await signal.WaitAsync(cancellationToken);
            }
        }

        public IDisposable Subscribe(IObserver<LifecycleSnapshot> observer)
        {
            observer.OnNext(Current);
            return new CancellationTokenSource();
        }
    }

    private sealed class Sink : IFrameSink
    {
        public Channel<(string, SendOptions)> Sent { get; } = Channel.CreateUnbounded<(string, SendOptions)>();

        public int QueuedFrames => 0;

        public long QueuedBytes => 0;

        public long FailedAfterAccept => 0;

        public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default)
        {
            Sent.Writer.TryWrite((frame.GetText(), options));
            return ValueTask.CompletedTask;
        }

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, default, cancellationToken);

        public SendStatus TrySend(Frame frame, SendOptions options = default)
        {
            Sent.Writer.TryWrite((frame.GetText(), options));
            return SendStatus.Accepted;
        }
    }

    // The initializer's sink is pinned to its epoch; here it records into the same channel with that pin.
    private sealed class SessionContext(long epoch, Sink sink) : ISessionContext, IFrameSink
    {
        public long Epoch => epoch;

        public bool IsReconnect => epoch > 0;

        public SessionInfo Session { get; } = new(epoch, DateTimeOffset.UnixEpoch, null, [], new Dictionary<string, string>(), LeafCapabilities.None, "ws://fake/");

        public HandshakeResponse Handshake { get; } = new(101, null, [], HandshakeResponse.NoHeaders);

        public IFrameSink Sink => this;

        public int QueuedFrames => 0;

        public long QueuedBytes => 0;

        public long FailedAfterAccept => 0;

        public Task<Frame> WaitForFrameAsync(Func<Frame, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("The fake connection delivers no frames to initializer waits.");

        public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default) =>
            sink.SendAsync(frame, options with { PinnedEpoch = epoch }, cancellationToken);

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, default, cancellationToken);

        public SendStatus TrySend(Frame frame, SendOptions options = default) => sink.TrySend(frame, options with { PinnedEpoch = epoch });
    }

    private sealed class Source(ChannelReader<Frame> reader) : IFrameSource
    {
        public int Count => reader.Count;

        public long BufferedBytes => 0;

        public bool TryRead(out Frame frame) => reader.TryRead(out frame);

        public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => reader.WaitToReadAsync(cancellationToken);

        public IAsyncEnumerator<Frame> GetAsyncEnumerator(CancellationToken cancellationToken = default) => reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
    }

    private sealed class Control : IConnectionControl
    {
        public ReconnectTrigger ReconnectTrigger { get; } = new(_ => { });

        public Task ShutdownAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;
    }
}
