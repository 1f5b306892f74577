namespace Transport.Mock;

/// <summary>
/// An <see cref="ILeafConnector"/> whose connect attempts follow a script: succeed with a
/// <see cref="MockSocket"/>, fail with an error, or hang until cancelled. It records every
/// handshake it receives.
/// </summary>
/// <remarks>
/// <para>Invariants (proved in <c>tests/Transport.Tests/Mock/ScriptedConnectorTests.cs</c>):</para>
/// <list type="bullet">
/// <item>Connector.C1: attempts consume the script in order; an empty script uses <see cref="DefaultOutcome"/> (<c>C1_*</c>).</item>
/// <item>Connector.C2: every attempt is counted and its handshake copied at the moment <c>ConnectAsync</c> is
/// called, before any outcome (<c>C2_*</c>).</item>
/// <item>Connector.C3: a hanging attempt completes only when its token fires, with
/// <see cref="OperationCanceledException"/> for that token (<c>C3_*</c>).</item>
/// <item>Connector.C4: an attempt whose token has already fired throws at once; it is still counted and
/// recorded (the stack did call the connector) but consumes no script entry (<c>C4_*</c>).</item>
/// </list>
/// <para>
/// Success and failure complete synchronously. A hang completes from the cancelling thread with
/// continuations run asynchronously, so the awaiting actor resumes on its own scheduler.
/// </para>
/// </remarks>
public sealed class ScriptedConnector : ILeafConnector
{
    private readonly Lock _gate = new();

    // Guarded by _gate.
    private readonly Queue<Step> _script = new();
    private readonly List<HandshakeRecord> _handshakes = [];
    private readonly List<MockSocket> _sockets = [];
    private int _attempts;
    private int _hanging;
    private AttemptOutcome _defaultOutcome = AttemptOutcome.Succeed;

    /// <summary>Appends one attempt to the script: <c>connector.Next.Succeeds()</c>, <c>.Fails(error)</c>, <c>.Hangs()</c>.</summary>
    public AttemptScript Next => new(this);

    /// <summary>What an attempt does when the script is empty (default: <see cref="AttemptOutcome.Succeed"/>).</summary>
    public AttemptOutcome DefaultOutcome
    {
        get { lock (_gate) { return _defaultOutcome; } }
        set { ArgumentNullException.ThrowIfNull(value); lock (_gate) { _defaultOutcome = value; } }
    }

    /// <summary>How many times <see cref="ConnectAsync"/> was called.</summary>
    public int Attempts
    {
        get { lock (_gate) { return _attempts; } }
    }

    /// <summary>How many attempts are hanging right now (waiting for their token).</summary>
    public int HangingAttempts
    {
        get { lock (_gate) { return _hanging; } }
    }

    /// <summary>How many scripted attempts are not yet consumed.</summary>
    public int ScriptedRemaining
    {
        get { lock (_gate) { return _script.Count; } }
    }

    /// <summary>A copy of every handshake received, in attempt order.</summary>
    public IReadOnlyList<HandshakeRecord> Handshakes
    {
        get { lock (_gate) { return [.. _handshakes]; } }
    }

    /// <summary>Every socket handed out, in order.</summary>
    public IReadOnlyList<MockSocket> Sockets
    {
        get { lock (_gate) { return [.. _sockets]; } }
    }

    /// <summary>The last socket handed out; null before the first success.</summary>
    public MockSocket? Current
    {
        get { lock (_gate) { return _sockets.Count == 0 ? null : _sockets[^1]; } }
    }

    /// <summary>Appends <paramref name="count"/> failing attempts to the script.</summary>
    /// <param name="count">How many attempts fail.</param>
    /// <param name="error">The error each throws.</param>
    public void FailNext(int count, TransportException error)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentNullException.ThrowIfNull(error);
        for (var i = 0; i < count; i++)
        {
            Next.Fails(error);
        }
    }

    /// <inheritdoc />
    public ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(handshake);
        Step step;
        lock (_gate)
        {
            // Connector.C2: count and copy first, whatever happens next.
            _attempts++;
            _handshakes.Add(new HandshakeRecord(_attempts, handshake));

            // Connector.C4: a dead token consumes nothing.
            if (cancellationToken.IsCancellationRequested)
            {
                return ValueTask.FromCanceled<ILeafConnection>(cancellationToken);
            }

            step = _script.TryDequeue(out var scripted)
                ? scripted
                : new Step(_defaultOutcome.Kind, _defaultOutcome.Error, null);

            switch (step.Kind)
            {
                case AttemptOutcomeKind.Succeed:
                    var socket = step.Socket ?? new MockSocket();
                    _sockets.Add(socket);
                    return ValueTask.FromResult<ILeafConnection>(socket);
                case AttemptOutcomeKind.Fail:
                    return ValueTask.FromException<ILeafConnection>(step.Error!);
                default:
                    _hanging++;
                    break;
            }
        }

        // Connector.C3: outside the lock, because registering runs the callback at once if the token just fired.
        var hang = new PendingOperation<ILeafConnection>();
        hang.CancelWith(cancellationToken, _ =>
        {
            lock (_gate)
            {
                _hanging--;
            }
        });
        return new ValueTask<ILeafConnection>(hang.Task);
    }

    /// <summary>Describes the connector (attempt counts; never handshake contents).</summary>
    public override string ToString()
    {
        lock (_gate)
        {
            return $"ScriptedConnector(attempts={_attempts}, scripted={_script.Count}, sockets={_sockets.Count}, default={_defaultOutcome})";
        }
    }

    internal void Enqueue(Step step)
    {
        lock (_gate)
        {
            _script.Enqueue(step);
        }
    }

    /// <summary>One scripted attempt.</summary>
    internal readonly record struct Step(AttemptOutcomeKind Kind, TransportException? Error, MockSocket? Socket);
}
