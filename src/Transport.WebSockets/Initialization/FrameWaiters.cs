using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Initialization;

/// <summary>
/// The waits of <see cref="ISessionContext.WaitForFrameAsync"/> on one socket: each data frame the
/// receive loop takes is offered to them (a login acknowledgement, a subscription ack).
/// </summary>
/// <remarks>
/// Init.I3 a frame is offered only to waits registered before it arrived, and the first matching
/// wait in registration order takes it (test: I3_wait_sees_only_frames_after_it_started_and_frames_still_reach_the_source).
/// Init.I4 a wait ends exactly once: matched, timed out, cancelled, or failed with the socket's end
/// (test: I4_waits_fail_with_the_socket_end_and_I6_context_sink_is_stale_after_its_socket_ended).
/// Init.I9 in lease mode a wait gets its own copy of the matched frame: the leased one goes on to the
/// source (or is dropped with its socket) and is released there, while the initializer may still read
/// what its wait returned (test: I9_a_wait_in_lease_mode_gets_an_owned_copy_of_the_leased_frame).
/// The receive loop's cost when nobody waits is one volatile read per frame.
/// </remarks>
internal sealed class FrameWaiters
{
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly long _epoch;

    // Guards _waits and _ended. Never held while completing a wait (continuations may run inline).
    private readonly Lock _gate = new();
    private readonly List<Waiter> _waits = [];
    private TransportException? _ended;
    private volatile int _count;

    public FrameWaiters(TimeProvider time, ILogger logger, string name, long epoch)
    {
        _time = time;
        _logger = logger;
        _name = name;
        _epoch = epoch;
    }

    public Task<Frame> WaitAsync(Func<Frame, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(match);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromException<Frame>(TransportException.Cancelled(new OperationCanceledException(cancellationToken)));
        }

        var waiter = new Waiter(this, match);
        lock (_gate)
        {
            if (_ended is { } ended)
            {
                return Task.FromException<Frame>(ended);
            }

            _waits.Add(waiter);
            _count = _waits.Count;
        }

        waiter.Arm(timeout, _time, cancellationToken);
        return waiter.Task;
    }

    /// <summary>Offers a received data frame to the waits (receive loop only).</summary>
    public void Offer(in Frame frame)
    {
        if (_count == 0)
        {
            return;
        }

        Waiter? matched = null;
        List<(Waiter Waiter, Exception Error)>? failed = null;
        lock (_gate)
        {
            for (var i = 0; i < _waits.Count; i++)
            {
                var waiter = _waits[i];
                bool isMatch;
                try
                {
                    // User code on the receive path: documented to be cheap. It runs under the gate so
                    // two frames cannot both match one wait.
                    isMatch = waiter.Match(frame);
                }
                catch (Exception ex)
                {
                    _waits.RemoveAt(i--);
                    (failed ??= []).Add((waiter, ex));
                    continue;
                }

                if (isMatch)
                {
                    _waits.RemoveAt(i);
                    matched = waiter;
                    break;
                }
            }

            _count = _waits.Count;
        }

        if (failed is not null)
        {
            foreach (var (waiter, error) in failed)
            {
                InitializationLog.MatcherThrew(_logger, _name, _epoch, error.GetType().Name);
                waiter.Fail(error);
            }
        }

        if (matched is not null)
        {
            // Init.I9: one copy per matched wait (rare), never per frame.
            matched.Succeed(frame.IsLeased ? OwnedCopy(frame) : frame);
        }
    }

    private static Frame OwnedCopy(in Frame frame)
    {
        var bytes = frame.Payload.ToArray();
        var copy = frame.Kind == FrameKind.Text ? Frame.Text(bytes) : Frame.Binary(bytes);
        return copy.WithEpoch(frame.Epoch).WithReceivedAt(frame.ReceivedAt);
    }

    /// <summary>The socket ended: every wait, present and future, fails with <paramref name="error"/>.</summary>
    public void End(TransportException error)
    {
        List<Waiter> waits;
        lock (_gate)
        {
            if (_ended is not null)
            {
                return;
            }

            _ended = error;
            waits = [.. _waits];
            _waits.Clear();
            _count = 0;
        }

        foreach (var waiter in waits)
        {
            waiter.Fail(error);
        }
    }

    private void Remove(Waiter waiter)
    {
        lock (_gate)
        {
            _waits.Remove(waiter);
            _count = _waits.Count;
        }
    }

    private sealed class Waiter(FrameWaiters owner, Func<Frame, bool> match)
    {
        private readonly TaskCompletionSource<Frame> _tcs = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private CancellationTokenSource? _timer;
        private CancellationTokenRegistration _timeoutRegistration;
        private CancellationTokenRegistration _cancelRegistration;

        public Func<Frame, bool> Match { get; } = match;

        public Task<Frame> Task => _tcs.Task;

        public void Arm(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
        {
            _timer = new CancellationTokenSource(timeout, time);
            _timeoutRegistration = _timer.Token.Register(static s =>
            {
                var w = (Waiter)s!;
                w.Expire();
            }, this);
            if (cancellationToken.CanBeCanceled)
            {
                _cancelRegistration = cancellationToken.Register(static (s, token) =>
                {
                    var w = (Waiter)s!;
                    w.Complete(null, TransportException.Cancelled(new OperationCanceledException(token)));
                }, this);
            }

            // Settled before arming (the frame may already have matched): release the timer now.
            if (_tcs.Task.IsCompleted)
            {
                Release();
            }
        }

        public void Succeed(Frame frame) => Complete(frame, null);

        public void Fail(Exception error) => Complete(null, error);

        private void Expire() =>
            Complete(null, TransportException.Timeout($"No matching frame arrived within the wait's timeout (epoch {owner._epoch})."));

        private void Complete(Frame? frame, Exception? error)
        {
            var done = frame is { } f ? _tcs.TrySetResult(f) : _tcs.TrySetException(error!);
            if (!done)
            {
                return;
            }

            owner.Remove(this);
            Release();
        }

        private void Release()
        {
            _timeoutRegistration.Dispose();
            _cancelRegistration.Dispose();
            _timer?.Dispose();
        }
    }
}
