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
/// <item>Fake.F6: <see cref="Connector"/> hands this connection to code that takes an
/// <see cref="IReconnectingConnector"/>: <see cref="IReconnectingConnector.Start"/> returns
/// <see cref="Connection"/> at once, <see cref="IReconnectingConnector.ConnectAsync"/> completes when the
/// script publishes an up-edge and fails as the stack's does when it publishes a terminal phase first.</item>
/// <item>Fake.F5: with a session initializer, <see cref="GoUpAsync"/> opens a scripted socket (epoch 0
/// first, then one more per socket, as the stack numbers them) and runs the initializer on it before
/// the up-edge; its context's pinned sink records sends (<see cref="SentFrame.ByInitializer"/>) for that
/// socket only, and its frame waits see frames pushed while that socket lives. An initializer that
/// throws (or a socket that goes down while it runs) fails the attempt instead: no up-edge,
/// <c>Attempts</c> + 1, <c>LastError</c> set, and that socket's epoch is not reused.</item>
/// </list>
/// <para>
/// Time comes from the <see cref="TimeProvider"/> given at construction (a
/// <c>Microsoft.Extensions.Time.Testing.FakeTimeProvider</c> in tests), used for <c>DownSince</c> and
/// for the timeout of the initializer context's <see cref="ISessionContext.WaitForFrameAsync"/>.
/// Everything is thread-safe; nothing here needs pumping. Unlike the stack, the fake does not hold
/// data-sink sends behind a running initializer: it records them when they are made.
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
    private readonly List<TaskCompletionSource<RotationResult>> _pendingRotations = [];
    private int _rotationRequests;
    private bool _shutdownRequested;

    // Guarded by _gate: the scripted sockets (Fake.F5). _everUp: an up-edge was published;
    // _lastSocket: the epoch of the newest socket opened; _live: the socket whose pinned sink and
    // frame waits are open (null when none); _liveEnded cancels its initializer.
    private bool _everUp;
    private long? _lastSocket;
    private FakeSessionContext? _live;
    private bool _initializing;
    private readonly List<FrameWait> _waits = [];

    /// <summary>Creates a fake connection in <see cref="ConnectionPhase.Connecting"/> (epoch 0, as the stack starts).</summary>
    /// <param name="name">The connection's name.</param>
    /// <param name="timeProvider">The clock for <c>DownSince</c> and frame-wait timeouts (default <see cref="TimeProvider.System"/>).</param>
    /// <param name="initializer">
    /// The session initializer <see cref="GoUpAsync"/> runs on every scripted socket before the up-edge
    /// (typically the adapter under test), or null for none.
    /// </param>
    public FakeReconnectingConnection(string name = "fake", TimeProvider? timeProvider = null, ISessionInitializer? initializer = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        _time = timeProvider ?? TimeProvider.System;
        Initializer = initializer;
        _lifecycle = new FakeLifecycle(this);
        Connection = new ReconnectingConnection(
            name,
            new FakeSink(this),
            new FakeSource(_frames.Reader),
            _lifecycle,
            new FakeControl(this));
        Connector = new FakeConnector(this);
    }

    /// <summary>The connection to hand to the code under test.</summary>
    public ReconnectingConnection Connection { get; }

    /// <summary>
    /// A connector over this one connection, for code under test that takes an <see cref="IReconnectingConnector"/>
    /// (Fake.F6): <c>Start()</c> returns <see cref="Connection"/> at once; <c>ConnectAsync</c> completes when the
    /// script brings it up (<see cref="GoUp"/>, <see cref="GoUpAsync"/>) and throws, as the stack's does, when
    /// the script ends it first (<see cref="Terminate"/>). Both count in <see cref="StartCount"/>.
    /// </summary>
    public IReconnectingConnector Connector { get; }

    /// <summary>How many times the code under test started the connection through <see cref="Connector"/>.</summary>
    public int StartCount => Volatile.Read(ref _starts);

    private int _starts;

    /// <summary>The session initializer run by <see cref="GoUpAsync"/> (null: none).</summary>
    public ISessionInitializer? Initializer { get; }

    /// <summary>
    /// The handshake response the next scripted sockets report to the initializer
    /// (<see cref="ISessionContext.Handshake"/>); default: 101 with no headers.
    /// </summary>
    public HandshakeResponse Handshake { get; set; } = new(101, null, [], HandshakeResponse.NoHeaders);

    /// <summary>The endpoint the scripted sockets report in <see cref="SessionInfo.Endpoint"/>.</summary>
    public string Endpoint { get; set; } = "wss://fake.invalid/";

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

    /// <summary>How many times the code under test called <c>RotateAsync</c> (the fake records them; complete them with <see cref="CompleteRotations"/>).</summary>
    public int RotationRequests
    {
        get
        {
            lock (_gate)
            {
                return _rotationRequests;
            }
        }
    }

    /// <summary>
    /// Completes every pending <c>RotateAsync</c> call with <paramref name="result"/> (publish the matching
    /// lifecycle yourself: for a rotation, <see cref="Publish"/> the next epoch without a down-edge). Returns
    /// how many calls were completed.
    /// </summary>
    /// <param name="result">What the calls return.</param>
    /// <returns>The number of calls completed.</returns>
    public int CompleteRotations(RotationResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        TaskCompletionSource<RotationResult>[] pending;
        lock (_gate)
        {
            pending = [.. _pendingRotations];
            _pendingRotations.Clear();
        }

        foreach (var call in pending)
        {
            call.TrySetResult(result);
        }

        return pending.Length;
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
        Action? ended = null;
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

            var previous = _current;
            next = proposed with { Version = _current.Version + 1 };
            _current = next;
            if (next.IsUp)
            {
                _everUp = true;
                _lastSocket = Math.Max(_lastSocket ?? 0, next.Epoch);
            }
            else if (previous.IsUp || next.IsTerminal)
            {
                // The down-edge (or the end) closes the socket: its pinned sink and waits fail from now on.
                ended = EndLiveSocket(next.LastError ?? TransportException.Shutdown());
            }
            observers = [.. _observers];
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            if (next.IsTerminal)
            {
                _observers.Clear();
            }
        }

        ended?.Invoke();
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
    /// <exception cref="InvalidOperationException">
    /// The connection is already up, or an <see cref="Initializer"/> is set (use <see cref="GoUpAsync"/>, which runs it first).
    /// </exception>
    public LifecycleSnapshot GoUp()
    {
        if (Initializer is not null)
        {
            throw new InvalidOperationException("This fake has a session initializer: call GoUpAsync, which runs it on the new socket before the up-edge.");
        }

        return PublishUp(OpenSocket());
    }

    /// <summary>
    /// Opens a scripted socket, runs <see cref="Initializer"/> on it (when set) with a context whose
    /// pinned sink records sends and whose frame waits see <see cref="Push"/>ed frames, then publishes
    /// the up-edge as <see cref="GoUp"/> does. If the initializer fails (it throws, or
    /// <see cref="GoDown"/>/<see cref="Terminate"/> ends the socket while it runs), the attempt fails
    /// instead, as in the stack: no up-edge, <c>Attempts</c> + 1 and <c>LastError</c> set (a
    /// non-<see cref="TransportException"/> is wrapped as <see cref="TransportErrorKind.Connection"/>).
    /// </summary>
    /// <param name="cancellationToken">Passed to the initializer (with the socket's end).</param>
    /// <returns>The published snapshot: the up-edge, or the failed attempt.</returns>
    /// <exception cref="InvalidOperationException">The connection is up, ended, or another GoUpAsync is running.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (nothing is published).</exception>
    public async Task<LifecycleSnapshot> GoUpAsync(CancellationToken cancellationToken = default)
    {
        var initializer = Initializer;
        if (initializer is null)
        {
            return GoUp();
        }

        var context = OpenSocket(initializing: true);
        TransportException? error = null;
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.Ending, cancellationToken);
            try
            {
                await initializer.InitializeAsync(context, linked.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (context.EndedWith is { } ended)
            {
                _ = ex; // the socket ended while the initializer ran: its end is the reason
                error = ended;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (TransportException ex)
            {
                error = ex;
            }
            catch (Exception ex)
            {
                // As the stack: type only, the message of user code may echo a credential.
                error = TransportException.Connection($"The session initializer failed ({ex.GetType().Name}).", ex);
            }

            error ??= context.EndedWith;
        }
        catch (OperationCanceledException)
        {
            lock (_gate)
            {
                _initializing = false;
            }

            EndSocket(context, TransportException.Cancelled());
            throw;
        }

        lock (_gate)
        {
            _initializing = false;
        }

        if (error is null)
        {
            return PublishUp(context.Epoch);
        }

        EndSocket(context, error);
        return Publish(s => s.IsTerminal ? s : s with
        {
            Attempts = s.Attempts + 1,
            LastError = error,
            DownSince = s.DownSince ?? _time.GetUtcNow(),
        });
    }

    /// <summary>The down-edge: <see cref="ConnectionPhase.Reconnecting"/>, <c>DownSince</c> = now, with the error that caused it.</summary>
    /// <param name="error">The error (default: the peer closed abnormally, 1006).</param>
    /// <returns>The published snapshot.</returns>
    /// <remarks>A socket being initialized by <see cref="GoUpAsync"/> ends too: that attempt fails with <paramref name="error"/>.</remarks>
    public LifecycleSnapshot GoDown(TransportException? error = null)
    {
        var reason = error ?? TransportException.ClosedByPeer(CloseCodes.Abnormal, null);
        var down = Publish(s => s with
        {
            Phase = ConnectionPhase.Reconnecting,
            DownSince = s.DownSince ?? _time.GetUtcNow(),
            LastError = reason,
        });
        EndLive(reason);
        return down;
    }

    /// <summary>A failed reconnect attempt while down: <c>Attempts</c> + 1 and the attempt's error.</summary>
    /// <param name="error">The attempt's error.</param>
    /// <returns>The published snapshot.</returns>
    public LifecycleSnapshot FailAttempt(TransportException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var failed = Publish(s => s.IsUp
            ? throw new InvalidOperationException("An attempt fails only while the connection is down: call GoDown first.")
            : s with { Attempts = s.Attempts + 1, LastError = error, DownSince = s.DownSince ?? _time.GetUtcNow() });
        EndLive(error);
        return failed;
    }

    private void EndLive(TransportException error)
    {
        Action? ended;
        lock (_gate)
        {
            ended = EndLiveSocket(error);
        }

        ended?.Invoke();
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

        // Fake.F5: like the stack, a frame that satisfies an initializer's wait still reaches the source.
        Matched(frame);
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

    // Fake.F5: the socket numbering of the stack (Actor.A2): epoch 0 for the first socket, then one
    // more per socket opened, a failed one included. The connection must be down and not ended.
    private long OpenSocket()
    {
        lock (_gate)
        {
            CheckCanOpen();
            return NextSocket();
        }
    }

    private FakeSessionContext OpenSocket(bool initializing)
    {
        Action? previous;
        FakeSessionContext context;
        lock (_gate)
        {
            CheckCanOpen();
            if (_initializing)
            {
                throw new InvalidOperationException("Another GoUpAsync is running its initializer.");
            }

            var epoch = NextSocket();
            previous = EndLiveSocket(TransportException.Connection("A newer socket replaced this one."));
            context = new FakeSessionContext(this, epoch, _time.GetUtcNow());
            _live = context;
            _initializing = initializing;
        }

        previous?.Invoke();
        return context;
    }

    private void CheckCanOpen()
    {
        if (_current.IsTerminal)
        {
            throw new InvalidOperationException($"The fake lifecycle already ended ({_current.Phase}).");
        }

        if (_current.IsUp)
        {
            throw new InvalidOperationException($"The fake connection is already up ({_current.Phase}).");
        }
    }

    private long NextSocket()
    {
        var epoch = _lastSocket is { } last ? Math.Max(last, _current.Epoch) + 1 : 0;
        _lastSocket = epoch;
        return epoch;
    }

    private LifecycleSnapshot PublishUp(long epoch) => Publish(s =>
    {
        if (s.IsUp)
        {
            throw new InvalidOperationException($"The fake connection is already up ({s.Phase}).");
        }

        return s with
        {
            Phase = _everUp ? ConnectionPhase.Resumed : ConnectionPhase.Connected,
            Epoch = Math.Max(epoch, s.Epoch),
            DownSince = null,
            Attempts = s.Attempts + 1,
        };
    });

    // Under _gate: closes the live socket; the returned action fails its waits outside the lock.
    private Action? EndLiveSocket(TransportException error)
    {
        if (_live is not { } live)
        {
            return null;
        }

        _live = null;
        var waits = _waits.Where(w => w.Epoch == live.Epoch).ToList();
        _waits.RemoveAll(w => w.Epoch == live.Epoch);
        return () =>
        {
            live.End(error);
            foreach (var wait in waits)
            {
                wait.Fail(error);
            }
        };
    }

    private void EndSocket(FakeSessionContext context, TransportException error)
    {
        Action? ended = null;
        lock (_gate)
        {
            if (ReferenceEquals(_live, context))
            {
                ended = EndLiveSocket(error);
            }
        }

        ended?.Invoke();
        context.End(error);
    }

    // As the real sinks do (Send.V1): a Text frame that is not valid UTF-8 is refused at the call.
    private static bool IsInvalidText(in Frame frame) => frame.Kind == FrameKind.Text && !System.Text.Unicode.Utf8.IsValid(frame.Payload.Span);

    private static ArgumentException InvalidText() => new("A Text frame must be valid UTF-8 (RFC 6455 5.6).", "frame");

    private SendStatus AcceptPinned(FakeSessionContext context, Frame frame, SendOptions options)
    {
        if (IsInvalidText(frame))
        {
            return SendStatus.Invalid;
        }

        SentFrame record;
        lock (_gate)
        {
            if (_current.IsTerminal || _shutdownRequested)
            {
                return SendStatus.Closed;
            }

            if (!ReferenceEquals(_live, context))
            {
                return SendStatus.StaleEpoch;
            }

            record = new SentFrame(frame, options with { PinnedEpoch = context.Epoch }, context.Epoch, ByInitializer: _initializing);
            _sent.Add(record);
        }

        _sentQueue.Writer.TryWrite(record);
        return SendStatus.Accepted;
    }

    private Task<Frame> WaitForFrame(FakeSessionContext context, Func<Frame, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromException<Frame>(TransportException.Cancelled(new OperationCanceledException(cancellationToken)));
        }

        FrameWait wait;
        lock (_gate)
        {
            if (!ReferenceEquals(_live, context))
            {
                return Task.FromException<Frame>(context.EndedWith ?? TransportException.StaleEpoch(context.Epoch));
            }

            wait = new FrameWait(this, context.Epoch, match);
            _waits.Add(wait);
        }

        wait.Arm(_time, timeout, cancellationToken);
        return wait.Task;
    }

    private void Matched(Frame frame)
    {
        FrameWait[] waits;
        lock (_gate)
        {
            if (_waits.Count == 0)
            {
                return;
            }

            waits = [.. _waits];
        }

        foreach (var wait in waits)
        {
            wait.Offer(frame);
        }
    }

    private void Forget(FrameWait wait)
    {
        lock (_gate)
        {
            _waits.Remove(wait);
        }
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
        if (IsInvalidText(frame))
        {
            return SendStatus.Invalid;
        }

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

    private sealed class FakeConnector(FakeReconnectingConnection owner) : IReconnectingConnector
    {
        public ReconnectingConnection Start()
        {
            Interlocked.Increment(ref owner._starts);
            return owner.Connection;
        }

        public ValueTask<ReconnectingConnection> ConnectAsync(CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return ConnectionStart.CompleteAsync(Start(), timeout: null, cancellationToken, owner._time);
        }
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
                SendStatus.Invalid => throw InvalidText(),
                SendStatus.StaleEpoch => ValueTask.FromException(TransportException.StaleEpoch(options.PinnedEpoch ?? -1)),
                _ => ValueTask.FromException(TransportException.Shutdown()),
            };
        }

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, default, cancellationToken);

        public SendStatus TrySend(Frame frame, SendOptions options = default) => owner.Accept(frame, options);
    }

    // The context an initializer gets for one scripted socket: its epoch, facts, pinned sink and waits.
    private sealed class FakeSessionContext(FakeReconnectingConnection owner, long epoch, DateTimeOffset openedAt) : ISessionContext, IFrameSink
    {
        private readonly CancellationTokenSource _ending = new();
        private TransportException? _ended;

        public long Epoch => epoch;

        public bool IsReconnect => epoch > 0;

        public SessionInfo Session { get; } = new(epoch, openedAt, owner.Handshake.SubProtocol, owner.Handshake.Extensions, new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase), LeafCapabilities.None, owner.Endpoint);

        public HandshakeResponse Handshake { get; } = owner.Handshake;

        public IFrameSink Sink => this;

        public int QueuedFrames => 0;

        public long QueuedBytes => 0;

        public long FailedAfterAccept => 0;

        public CancellationToken Ending => _ending.Token;

        public TransportException? EndedWith => Volatile.Read(ref _ended);

        public void End(TransportException error)
        {
            if (Interlocked.CompareExchange(ref _ended, error, null) is null)
            {
                _ending.Cancel();
            }
        }

        public Task<Frame> WaitForFrameAsync(Func<Frame, bool> match, TimeSpan timeout, CancellationToken cancellationToken = default) =>
            owner.WaitForFrame(this, match, timeout, cancellationToken);

        public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled(cancellationToken);
            }

            return owner.AcceptPinned(this, frame, options) switch
            {
                SendStatus.Accepted => ValueTask.CompletedTask,
                SendStatus.Invalid => throw InvalidText(),
                SendStatus.StaleEpoch => ValueTask.FromException(TransportException.StaleEpoch(epoch)),
                _ => ValueTask.FromException(TransportException.Shutdown()),
            };
        }

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, default, cancellationToken);

        public SendStatus TrySend(Frame frame, SendOptions options = default) => owner.AcceptPinned(this, frame, options);
    }

    // One WaitForFrameAsync: completes with the first matching pushed frame, the timeout (on the
    // fake's clock), cancellation, or the socket's end, whichever comes first.
    private sealed class FrameWait(FakeReconnectingConnection owner, long epoch, Func<Frame, bool> match)
    {
        private readonly TaskCompletionSource<Frame> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private ITimer? _timer;
        private CancellationTokenRegistration _cancel;

        public long Epoch => epoch;

        public Task<Frame> Task => _done.Task;

        public TimeSpan Bound { get; private set; }

        public void Arm(TimeProvider time, TimeSpan timeout, CancellationToken cancellationToken)
        {
            Bound = timeout;
            _timer = time.CreateTimer(
                static s =>
                {
                    var wait = (FrameWait)s!;
                    wait.Fail(TransportException.Timeout($"The session initializer's WaitForFrameAsync got no matching frame within {wait.Bound} (epoch {wait.Epoch}): the venue did not answer as expected (a login or subscription never acknowledged?)."));
                },
                this,
                timeout,
                Timeout.InfiniteTimeSpan);
            _cancel = cancellationToken.Register(
                static s =>
                {
                    var (wait, token) = ((FrameWait, CancellationToken))s!;
                    wait.Fail(TransportException.Cancelled(new OperationCanceledException(token)));
                },
                (this, cancellationToken));
            if (_done.Task.IsCompleted)
            {
                Release();
            }
        }

        public void Offer(Frame frame)
        {
            if (_done.Task.IsCompleted)
            {
                return;
            }

            bool matched;
            try
            {
                matched = match(frame);
            }
            catch (Exception ex)
            {
                Complete(null, ex);
                return;
            }

            if (matched)
            {
                Complete(frame, null);
            }
        }

        public void Fail(Exception error) => Complete(null, error);

        private void Complete(Frame? frame, Exception? error)
        {
            var won = error is null ? _done.TrySetResult(frame!.Value) : _done.TrySetException(error);
            if (won)
            {
                owner.Forget(this);
                Release();
            }
        }

        private void Release()
        {
            _timer?.Dispose();
            _cancel.Dispose();
        }
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

        public Task<RotationResult> RotateAsync(CancellationToken cancellationToken = default)
        {
            var call = new TaskCompletionSource<RotationResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (owner._gate)
            {
                owner._rotationRequests++;
                if (owner._current.IsTerminal || !owner._current.IsUp)
                {
                    // As the stack: nothing up to rotate.
                    call.TrySetResult(RotationResult.Skipped(owner._current.Epoch));
                    return call.Task;
                }

                owner._pendingRotations.Add(call);
            }

            return call.Task.WaitAsync(cancellationToken);
        }

        public Task ShutdownAsync(CancellationToken cancellationToken = default)
        {
            owner.RequestShutdown();
            return Task.CompletedTask;
        }
    }
}
