using Transport.Mock;
using Transport.Tests.Actor;
using Transport.Tests.Telemetry;

namespace Transport.Tests.Reconnect;

/// <summary>
/// Issue #13 items 1, 2 and 4: code the adapter hands to the stack at connect time (auth source,
/// classifier, leaf) cannot end or wedge the connection.
/// </summary>
public sealed class UserCodeBoundaryTests
{
    [Fact]
    [Trait("Invariant", "Policy.P3")]
    public void Item1_auth_source_whose_HttpClient_times_out_is_a_transient_timeout()
    {
        var calls = 0;
        var auth = AuthSources.From((request, _, _) =>
        {
            if (++calls == 1)
            {
                // What HttpClient.Timeout throws: a TaskCanceledException for the client's own token.
                using var own = new CancellationTokenSource();
                own.Cancel();
                throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.", new TimeoutException(), own.Token);
            }

            request.Headers["Authorization"] = "Bearer fresh";
            return ValueTask.CompletedTask;
        });
        var h = ActorHarness.Start(auth: auth);

        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase); // not Unrecoverable, not Closed
        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        Assert.Contains("TaskCanceledException", h.Now.LastError!.Message, StringComparison.Ordinal);

        h.Advance(TimeSpan.FromSeconds(1)); // the first backoff
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal("Bearer fresh", h.Connector.Handshakes.Single().Headers["Authorization"]);
    }

    [Fact]
    [Trait("Invariant", "Policy.P3")]
    public void Item1_auth_source_that_throws_is_transient_and_logged_by_type_only()
    {
        var logs = new CapturingLoggerFactory();
        var calls = 0;
        var auth = AuthSources.From((_, _, _) => ++calls <= 2
            ? throw new InvalidOperationException("vault said: token=sk_live_secret")
            : ValueTask.CompletedTask);
        var h = ActorHarness.Start(auth: auth, builder: b => b.WithLoggerFactory(logs));

        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TransportErrorKind.Connection, h.Now.LastError?.Kind);
        h.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(2, logs.Entries.Count(e => e.EventId.Name == "AttemptThrew"));
        Assert.Contains(logs.Entries, e => e.EventId.Name == "AttemptThrew" && e.Message.Contains("InvalidOperationException", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Entries.SelectMany(e => e.Renderings()), r => r.Contains("sk_live_secret", StringComparison.Ordinal));
        Assert.DoesNotContain("sk_live_secret", h.Now.LastError!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Invariant", "Policy.P3")]
    public void Item2_classifier_that_throws_falls_back_to_the_default()
    {
        var logs = new CapturingLoggerFactory();
        // The bug from the issue: HttpStatus!.Value on a plain 1006 drop, which has no status.
        var classifier = DefaultFailureClassifier.RefinedBy(e => e.HttpStatus!.Value == 418 ? FailureClass.Permanent : null);
        var h = ActorHarness.Start(classifier: classifier, builder: b => b.WithLoggerFactory(logs));

        h.Socket.Disconnect(); // 1006, no HTTP status: the classifier throws
        h.Pump();

        Assert.Equal(ConnectionPhase.Resumed, h.Now.Phase); // the default said Transient
        Assert.Equal(1, h.Now.Epoch);
        Assert.Contains(logs.Entries, e => e.EventId.Name == "ClassifierFailed" && e.Message.Contains("InvalidOperationException", StringComparison.Ordinal));

        // A failed attempt goes through the same fallback: a 401 is still Permanent.
        h.Connector.FailNext(10, TransportException.HandshakeRejected(401));
        h.Socket.Disconnect();
        h.AdvanceUntil(() => h.Now.IsTerminal, TimeSpan.FromSeconds(1));
        Assert.Equal(ConnectionPhase.Unrecoverable, h.Now.Phase);
    }

    [Fact]
    [Trait("Invariant", "Policy.P1")]
    public async Task Item4_leaf_that_ignores_its_token_is_abandoned_at_the_connect_timeout()
    {
        var late = new TaskCompletionSource<ILeafConnection>();
        var (scripted, _, _) = MockHarness.Create();
        var leaf = new TokenIgnoringLeaf(late.Task, scripted);
        var h = ActorHarness.Start(builder: b => b.UseLeaf(leaf));

        Assert.Equal(ConnectionPhase.Connecting, h.Now.Phase);
        h.Advance(TimeSpan.FromSeconds(5) - TimeSpan.FromTicks(1));
        Assert.Null(h.Now.LastError);
        h.Advance(TimeSpan.FromTicks(1)); // connect timeout: the attempt is abandoned
        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);

        h.Advance(TimeSpan.FromSeconds(1)); // the backoff, then the next attempt
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(2, h.Now.Attempts);

        // The abandoned attempt finally returns a socket: it is disposed, never used.
        var lateSocket = new MockSocket();
        late.SetResult(lateSocket);
        h.Pump();
        Assert.True(lateSocket.IsDisposed);
        Assert.False(scripted.Current!.IsDisposed);
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);

        var shutdown = h.Connection.Control.ShutdownAsync();
        h.Advance(TimeSpan.FromSeconds(2)); // the close handshake's bound
        await shutdown.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    [Trait("Invariant", "Policy.P1")]
    public void Item4_auth_source_that_ignores_its_token_is_abandoned_at_the_connect_timeout()
    {
        var hang = new TaskCompletionSource();
        var calls = 0;
        var auth = AuthSources.From((_, _, _) => ++calls == 1 ? new ValueTask(hang.Task) : ValueTask.CompletedTask);
        var h = ActorHarness.Start(auth: auth);

        h.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(TransportErrorKind.Timeout, h.Now.LastError?.Kind);
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Equal(1, h.Connector.Attempts); // the leaf was only reached by the second attempt

        // The abandoned stamp completes late; its attempt goes on to the leaf with a cancelled token,
        // so no socket is made, and nothing disturbs the live connection.
        hang.SetResult();
        h.Pump();
        Assert.Equal(ConnectionPhase.Connected, h.Now.Phase);
        Assert.Single(h.Connector.Sockets, s => !s.IsDisposed);
        Assert.Equal(2, h.Now.Attempts);
    }

    [Fact]
    [Trait("Invariant", "Policy.P1")]
    public void Item4_shutdown_during_an_attempt_that_ignores_its_token_completes()
    {
        var never = new TaskCompletionSource<ILeafConnection>();
        var (scripted, _, _) = MockHarness.Create();
        var h = ActorHarness.Start(builder: b => b.UseLeaf(new TokenIgnoringLeaf(never.Task, scripted)));

        var shutdown = h.Connection.Control.ShutdownAsync();
        h.Pump();

        Assert.True(shutdown.IsCompletedSuccessfully);
        Assert.Equal(ConnectionPhase.Closed, h.Now.Phase);
    }

    /// <summary>A leaf whose first attempt ignores its token and returns <paramref name="first"/> whenever that completes.</summary>
    private sealed class TokenIgnoringLeaf(Task<ILeafConnection> first, ScriptedConnector then) : ILeafConnector
    {
        private int _calls;

        public ValueTask<ILeafConnection> ConnectAsync(HandshakeRequest handshake, CancellationToken cancellationToken) =>
            Interlocked.Increment(ref _calls) == 1 ? new ValueTask<ILeafConnection>(first) : then.ConnectAsync(handshake, cancellationToken);
    }
}
