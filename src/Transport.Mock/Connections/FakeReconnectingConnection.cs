using System.Threading.Channels;

namespace Transport.Mock;

/// <summary>
/// A stack-level fake: a <see cref="ReconnectingConnection"/> whose lifecycle, source and sink the
/// test drives directly, for testing an adapter without the reconnecting stack underneath. The test
/// publishes lifecycle transitions (<see cref="GoDown"/>, <see cref="GoUp"/>, <see cref="Lag"/>,
/// <see cref="Terminate"/> or any <see cref="Publish"/>), pushes frames into the source, and reads what
/// the adapter sent (<see cref="Sent"/>, <see cref="NextSentAsync"/>), with which options and on which epoch.
/// </summary>
/// <remarks>
/// <para>Invariants (tests in <c>tests/Transport.Tests/Mock/FakeReconnectingConnectionTests.cs</c>):</para>
/// <list type="bullet">
/// <item>Fake.F1: snapshots follow the stack's rules: <c>Version</c> advances on every publish, an
/// up-edge after a down-edge advances <c>Epoch</c>, <c>DownSince</c> is set while down and cleared
/// when up, and <c>TotalLagged</c>/<c>Attempts</c> never go backwards.</item>
/// <item>Fake.F2: observers see the current snapshot on subscribe, then every publish in order,
/// synchronously on the publishing thread (a script, not the stack's coalesced delivery); the
/// stream completes after a terminal snapshot, and so does <see cref="ILifecycleChannel.Completion"/>.</item>
/// <item>Fake.F3: the sink records every accepted frame with its options and the epoch it was
/// accepted on; a frame pinned to another epoch is refused (<see cref="SendStatus.StaleEpoch"/>, or a
/// <see cref="TransportException"/> of kind <see cref="TransportErrorKind.StaleEpoch"/> from
/// <c>SendAsync</c>), and after a terminal snapshot every send is refused (<see cref="SendStatus.Closed"/>).</item>
/// <item>Fake.F4: the source yields pushed frames in order and ends when <see cref="CompleteSource"/> is
/// called or a terminal snapshot is published (with the snapshot's error for <c>Unrecoverable</c>).</item>
/// </list>
/// <para>
/// Time comes from the <see cref="TimeProvider"/> given at construction (a
/// <c>Microsoft.Extensions.Time.Testing.FakeTimeProvider</c> in tests), used for <c>DownSince</c>.
/// Everything is thread-safe; nothing here needs pumping.
/// </para>
/// </remarks>
public sealed class FakeReconnectingConnection : IAsyncDisposable
{
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Channel<Frame> _frames = Channel.CreateUnbounded<Frame>();
    private readonly Channel<SentFrame> _sentQueue = Channel.CreateUnbounded<SentFrame>();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FakeLifecycle _lifecycle;

    // Guarded by _gate: the current snapshot, observers, the record of sends and control requests.
    private LifecycleSnapshot _current = LifecycleSnapshot.Initial;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<IObserver<LifecycleSnapshot>> _observers = [];
    private readonly List<SentFrame> _sent = [];
    private readonly List<string> _reconnectRequests = [];
    private bool _shutdownRequested;

    /// <summary>Creates a fake connection in <see cref="ConnectionPhase.Connecting"/> (epoch 0, as the stack starts).</summary>
    /// <param name="name">The connection's name.</param>
    /// <param name="timeProvider">The clock for <c>DownSince</c> (default <see cref="TimeProvider.System"/>).</param>
    public FakeReconnectingConnection(string name = "fake", TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        _time = timeProvider ?? TimeProvider.System;
        _lifecycle = new FakeLifecycle(this);
        Connection = new ReconnectingConnection(
            name,
            new FakeSink(this),
            new FakeSource(_frames.Reader),
            _lifecycle,
            new FakeControl(this));
    }

    /// <summary>The connection to hand to the code under test.</summary>
    public ReconnectingConnection Connection { get; }

    /// <summary>The snapshot published last.</summary>
    public LifecycleSnapshot Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    /// <summary>Every frame the sink accepted, in order.</summary>
    public IReadOnlyList<SentFrame> Sent
    {
        get
        {
            lock (_gate)
            {
                return [.. _sent];
            }
        }
    }

    /// <summary>The reasons passed to <see cref="ReconnectTrigger.ForceReconnect"/>, in order (the fake only records them).</summary>
    public IReadOnlyList<string> ReconnectRequests
    {
        get
        {
            lock (_gate)
            {
                return [.. _reconnectRequests];
            }
        }
    }

    /// <summary>True once the code under test called <c>ShutdownAsync</c> or disposed the connection.</summary>
    public bool ShutdownRequested
    {
        get
        {
            lock (_gate)
            {
                return _shutdownRequested;
            }
        }
    }

    /// <summary>
    /// Publishes <paramref name="change"/> applied to the current snapshot (<c>Version</c> is advanced
    /// for you). For the common transitions use <see cref="GoUp"/>, <see cref="GoDown"/>, <see cref="Lag"/>
    /// and <see cref="Terminate"/>.
    /// </summary>
    /// <param name="change">The change, e.g. <c>s =&gt; s with { Phase = ConnectionPhase.Stale }</c>.</param>
    /// <returns>The published snapshot.</returns>
    /// <exception cref="InvalidOperationException">The lifecycle already ended, or the change breaks Fake.F1.</exception>
    public LifecycleSnapshot Publish(Func<LifecycleSnapshot, LifecycleSnapshot> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        LifecycleSnapshot next;
        IObserver<LifecycleSnapshot>[] observers;
        TaskCompletionSource changed;
        lock (_gate)
        {
            if (_current.IsTerminal)
            {
                throw new InvalidOperationException($"The fake lifecycle already ended ({_current.Phase}).");
            }

            var proposed = change(_current);
            if (proposed.Epoch < _current.Epoch || proposed.TotalLagged < _current.TotalLagged || proposed.Attempts < _current.Attempts)
            {
                throw new InvalidOperationException("Epoch, TotalLagged and Attempts are cumulative: they never go backwards (Fake.F1).");
            }

            next = proposed with { Version = _current.Version + 1 };
            _current = next;
            observers = [.. _observers];
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            if (next.IsTerminal)
            {
                _observers.Clear();
            }
        }

        changed.TrySetResult();
        foreach (var observer in observers)
        {
            observer.OnNext(next);
            if (next.IsTerminal)
            {
                observer.OnCompleted();
            }
        }

        if (next.IsTerminal)
        {
            _frames.Writer.TryComplete(next.Phase == ConnectionPhase.Unrecoverable ? next.LastError : null);
            _completion.TrySetResult();
        }

        return next;
    }

    /// <summary>
    /// The up-edge: <see cref="ConnectionPhase.Connected"/> on the first connection (epoch 0), or
    /// <see cref="ConnectionPhase.Resumed"/> with the epoch advanced after a down-edge; counts one attempt.
    /// </summary>
    /// <returns>The published snapshot.</returns>
    public LifecycleSnapshot GoUp() => Publish(s =>
    {
        if (s.IsUp)
        {
            throw new InvalidOperationException($"The fake connection is already up ({s.Phase}).");
        }

        var first = s.Phase == ConnectionPhase.Connecting && s.Epoch == 0 && s.Attempts == 0;
        return s with
        {
            Phase = first ? ConnectionPhase.Connected : ConnectionPhase.Resumed,
            Epoch = first ? 0 : s.Epoch + 1,
            DownSince = null,
            Attempts = s.Attempts + 1,
        };
    });

    /// <summary>The down-edge: <see cref="ConnectionPhase.Reconnecting"/>, <c>DownSince</c> = now, with the error that caused it.</summary>
    /// <param name="error">The error (default: the peer closed abnormally, 1006).</param>
    /// <returns>The published snapshot.</returns>
    public LifecycleSnapshot GoDown(TransportException? error = null) => Publish(s => s with
    {
        Phase = ConnectionPhase.Reconnecting,
        DownSince = s.DownSince ?? _time.GetUtcNow(),
        LastError = error ?? TransportException.ClosedByPeer(CloseCodes.Abnormal, null),
    });

    /// <summary>A failed reconnect attempt while down: <c>Attempts</c> + 1 and the attempt's error.</summary>
    /// <param name="error">The attempt's error.</param>
    /// <returns>The published snapshot.</returns>
    public LifecycleSnapshot FailAttempt(TransportException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return Publish(s => s.IsUp
            ? throw new InvalidOperationException("An attempt fails only while the connection is down: call GoDown first.")
            : s with { Attempts = s.Attempts + 1, LastError = error, DownSince = s.DownSince ?? _time.GetUtcNow() });
    }

    /// <summary>The receive ring dropped <paramref name="frames"/> frames: <c>TotalLagged</c> advances.</summary>
    /// <param name="frames">How many frames were dropped (at least 1).</param>
    /// <returns>The published snapshot.</returns>
    public LifecycleSnapshot Lag(long frames = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frames, 1);
        return Publish(s => s with { TotalLagged = s.TotalLagged + frames });
    }

    /// <summary>
    /// The terminal snapshot: <see cref="ConnectionPhase.Closed"/> (default) or
    /// <see cref="ConnectionPhase.Unrecoverable"/>. The lifecycle and the source complete after it.
    /// </summary>
    /// <param name="phase">Closed or Unrecoverable.</param>
    /// <param name="error">The error (Unrecoverable: the source ends with it).</param>
    /// <param name="exhausted">Whether a MaxAttempts cap ran out.</param>
    /// <returns>The published snapshot.</returns>
    public LifecycleSnapshot Terminate(ConnectionPhase phase = ConnectionPhase.Closed, TransportException? error = null, bool exhausted = false)
    {
        if (phase is not (ConnectionPhase.Closed or ConnectionPhase.Unrecoverable))
        {
            throw new ArgumentOutOfRangeException(nameof(phase), phase, "A terminal phase is Closed or Unrecoverable.");
        }

        return Publish(s => s with
        {
            Phase = phase,
            DownSince = s.DownSince ?? _time.GetUtcNow(),
            LastError = error ?? s.LastError,
            Exhausted = s.Exhausted || exhausted,
        });
    }

    /// <summary>Pushes a data frame into the source.</summary>
    /// <param name="frame">A Text or Binary frame.</param>
    public void Push(Frame frame)
    {
        if (frame.Kind is not (FrameKind.Text or FrameKind.Binary))
        {
            throw new ArgumentException("The source yields only Text and Binary frames.", nameof(frame));
        }

        if (!_frames.Writer.TryWrite(frame))
        {
            throw new InvalidOperationException("The fake source has completed.");
        }
    }

    /// <summary>Pushes a text frame into the source.</summary>
    /// <param name="text">The text.</param>
    public void PushText(string text) => Push(Frame.Text(text));

    /// <summary>Ends the source (with <paramref name="error"/> when given).</summary>
    /// <param name="error">The error the consumer sees, or null for a clean end.</param>
    public void CompleteSource(Exception? error = null) => _frames.Writer.TryComplete(error);

    /// <summary>Waits for the next frame the sink accepts (frames are handed out once each, in order).</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>The frame and how it was sent.</returns>
    public ValueTask<SentFrame> NextSentAsync(CancellationToken cancellationToken = default) => _sentQueue.Reader.ReadAsync(cancellationToken);

    /// <summary>Publishes <see cref="ConnectionPhase.Closed"/> if the lifecycle has not ended.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        RequestShutdown();
        return ValueTask.CompletedTask;
    }

    private void RequestShutdown()
    {
        bool end;
        lock (_gate)
        {
            _shutdownRequested = true;
            end = !_current.IsTerminal;
        }

        if (end)
        {
            try
            {
                Terminate();
            }
            catch (InvalidOperationException)
            {
                // Another thread published a terminal snapshot first: shutdown is idempotent.
            }
        }
    }

    private SendStatus Accept(Frame frame, SendOptions options)
    {
        SentFrame record;
        lock (_gate)
        {
            if (_current.IsTerminal || _shutdownRequested)
            {
                return SendStatus.Closed;
            }

            if (options.PinnedEpoch is { } pinned && pinned != _current.Epoch)
            {
                return SendStatus.StaleEpoch;
            }

            record = new SentFrame(frame, options, _current.Epoch);
            _sent.Add(record);
        }

        _sentQueue.Writer.TryWrite(record);
        return SendStatus.Accepted;
    }

    private sealed class FakeLifecycle(FakeReconnectingConnection owner) : ILifecycleChannel
    {
        public LifecycleSnapshot Current => owner.Current;

        public Task Completion => owner._completion.Task;

        public async ValueTask<LifecycleSnapshot> WaitAsync(Func<LifecycleSnapshot, bool> predicate, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(predicate);
            while (true)
            {
                Task changed;
                LifecycleSnapshot now;
                lock (owner._gate)
                {
                    (changed, now) = (owner._changed.Task, owner._current);
                }

                if (predicate(now))
                {
                    return now;
                }

                if (now.IsTerminal)
                {
                    throw new InvalidOperationException($"The fake lifecycle ended ({now.Phase}) before the condition held.");
                }

                await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public IDisposable Subscribe(IObserver<LifecycleSnapshot> observer)
        {
            ArgumentNullException.ThrowIfNull(observer);
            LifecycleSnapshot now;
            lock (owner._gate)
            {
                now = owner._current;
                if (!now.IsTerminal)
                {
                    owner._observers.Add(observer);
                }
            }

            observer.OnNext(now);
            if (now.IsTerminal)
            {
                observer.OnCompleted();
            }

            return new Unsubscriber(owner, observer);
        }
    }

    private sealed class Unsubscriber(FakeReconnectingConnection owner, IObserver<LifecycleSnapshot> observer) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._gate)
            {
                owner._observers.Remove(observer);
            }
        }
    }

    private sealed class FakeSink(FakeReconnectingConnection owner) : IFrameSink
    {
        public int QueuedFrames => 0;

        public long QueuedBytes => 0;

        public long FailedAfterAccept => 0;

        public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled(cancellationToken);
            }

            return owner.Accept(frame, options) switch
            {
                SendStatus.Accepted => ValueTask.CompletedTask,
                SendStatus.StaleEpoch => ValueTask.FromException(TransportException.StaleEpoch(options.PinnedEpoch ?? -1)),
                _ => ValueTask.FromException(TransportException.Shutdown()),
            };
        }

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, default, cancellationToken);

        public SendStatus TrySend(Frame frame, SendOptions options = default) => owner.Accept(frame, options);
    }

    private sealed class FakeSource(ChannelReader<Frame> reader) : IFrameSource
    {
        public int Count => reader.Count;

        public long BufferedBytes => 0;

        public bool TryRead(out Frame frame) => reader.TryRead(out frame);

        public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) => reader.WaitToReadAsync(cancellationToken);

        public IAsyncEnumerator<Frame> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
            reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
    }

    private sealed class FakeControl(FakeReconnectingConnection owner) : IConnectionControl
    {
        public ReconnectTrigger ReconnectTrigger { get; } = new(reason =>
        {
            lock (owner._gate)
            {
                if (!owner._current.IsTerminal)
                {
                    owner._reconnectRequests.Add(reason);
                }
            }
        });

        public Task ShutdownAsync(CancellationToken cancellationToken = default)
        {
            owner.RequestShutdown();
            return Task.CompletedTask;
        }
    }
}
