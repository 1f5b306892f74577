using System.Text;
using Transport.Testing;
using Transport.WebSockets;

namespace Transport.IntegrationTests.Tls;

/// <summary>
/// wss:// as users meet it, for every leaf and both ways of giving trust: Kestrel presents a
/// certificate issued by a test CA created here (SAN localhost and 127.0.0.1), the client trusts
/// that CA only through the handler's (or the socket options') validation callback; frames flow
/// and SNI carries the host. An untrusted certificate or a wrong host name is a Permanent
/// <see cref="TransportErrorKind.Tls"/> error with a clear, secret-free message, and the stack ends
/// Unrecoverable after its permanent retries instead of hammering the server.
/// </summary>
public sealed class TlsTests : IDisposable
{
    // Generous: only a real hang trips it (the suite runs on a loaded 2-core machine).
    internal static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private const string Secret = "SUPERSECRET-tls-5e1d";

    private readonly TestCertificates _ca = TestCertificates.CreateAuthority();

    public void Dispose() => _ca.Dispose();

    [Theory]
    [MemberData(nameof(Setups))]
    public async Task Wss_frames_flow_both_ways_with_trust_given_through_the_validation_callback_and_SNI_names_the_host(NetworkSetup setup)
    {
        using var certificate = _ca.IssueServer(["localhost"]);
        await using var server = await LoopbackServer.StartTlsAsync(async s =>
        {
            await s.AcceptAsync();
            await s.EchoAsync();
        }, certificate);
        var (leaf, invoker) = NetworkSetups.Leaf(setup, _ca.TrustOnlyThisAuthority(), proxy: null);
        using var _ = invoker;

        await using var connection = await leaf.ConnectAsync(new HandshakeRequest(Localhost(server)), CancellationToken.None).AsTask().WaitAsync(Bound);
        await connection.Sender.SendAsync(Frame.Text("over tls"), CancellationToken.None).AsTask().WaitAsync(Bound);
        var echoed = await connection.Receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Bound);
        var payload = Enumerable.Range(0, 70_000).Select(i => (byte)i).ToArray();
        await connection.Sender.SendAsync(Frame.Binary(payload), CancellationToken.None).AsTask().WaitAsync(Bound);
        var big = await connection.Receiver.ReceiveAsync(CancellationToken.None).AsTask().WaitAsync(Bound);

        Assert.Equal("over tls", echoed.GetText());
        Assert.Equal(payload, big.Payload.ToArray());
        Assert.Equal(["localhost"], server.ServerNames);
        Assert.Single(server.Handshakes);
    }

    [Theory]
    [MemberData(nameof(Setups))]
    public async Task Untrusted_certificate_is_a_Permanent_Tls_error_naming_the_verdict_without_secrets(NetworkSetup setup)
    {
        using var certificate = _ca.IssueServer(["localhost"]);
        await using var server = await LoopbackServer.StartTlsAsync(s => s.AcceptAsync(), certificate);
        var (leaf, invoker) = NetworkSetups.Leaf(setup, trust: null, proxy: null); // platform validation: the test CA is not trusted
        using var _ = invoker;

        var error = await ConnectFailsAsync(leaf, server);

        Assert.Equal(TransportErrorKind.Tls, error.Kind);
        Assert.Equal(FailureClass.Permanent, DefaultFailureClassifier.Instance.Classify(error));
        Assert.Contains("certificate was rejected", error.Message, StringComparison.Ordinal);
        Assert.Contains("RemoteCertificateChainErrors", error.Message, StringComparison.Ordinal); // e.g. "(RemoteCertificateChainErrors: PartialChain)"
        Assert.Null(error.HttpStatus);
        AssertNoSecrets(error);
        Assert.Empty(server.Handshakes); // nothing reached HTTP
    }

    [Theory]
    [MemberData(nameof(MismatchCases))]
    public async Task Certificate_for_another_host_is_a_Permanent_Tls_error_naming_the_mismatch_or_the_callback_that_refused_it(NetworkSetup setup, bool trustCallback)
    {
        using var certificate = _ca.IssueServer(["venue.example"], includeLoopbackAddress: false);
        await using var server = await LoopbackServer.StartTlsAsync(s => s.AcceptAsync(), certificate);
        var (leaf, invoker) = NetworkSetups.Leaf(setup, trustCallback ? _ca.TrustOnlyThisAuthority() : null, proxy: null);
        using var _ = invoker;

        var error = await ConnectFailsAsync(leaf, server);

        Assert.Equal(TransportErrorKind.Tls, error.Kind);
        Assert.Equal(FailureClass.Permanent, DefaultFailureClassifier.Instance.Classify(error));
        // The platform names the mismatch; a callback that refused is named as such (only it knows why).
        Assert.Contains(trustCallback ? "refused by the RemoteCertificateValidationCallback" : "RemoteCertificateNameMismatch", error.Message, StringComparison.Ordinal);
        AssertNoSecrets(error);
        Assert.Empty(server.Handshakes);
    }

    public static TheoryData<NetworkSetup, bool> MismatchCases()
    {
        var data = new TheoryData<NetworkSetup, bool>();
        foreach (var setup in NetworkSetups.Kinds)
        {
            data.Add(setup, true);
            data.Add(setup, false);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Setups))]
    public async Task Stack_over_wss_delivers_frames_and_reconnects_over_a_new_tls_session(NetworkSetup setup)
    {
        using var certificate = _ca.IssueServer(["localhost"]);
        await using var server = await LoopbackServer.StartTlsAsync(async s =>
        {
            await s.AcceptAsync();
            await s.SendAsync($"hello {s.Number}");
            await s.EchoAsync();
        }, certificate);
        var builder = StackBuilder(Localhost(server));
        using var invoker = NetworkSetups.Configure(builder, setup, _ca.TrustOnlyThisAuthority(), proxy: null);
        await using var connection = await builder.Build().ConnectAsync();
        await using var frames = connection.Source.GetAsyncEnumerator();

        // Numbered by the server's requests: on a loaded machine an attempt may time out and be retried,
        // so the test follows whichever request carried the session instead of assuming #1 and #2.
        var first = SessionNumber(await NextTextAsync(frames));
        // Session.S9: the frame was read after its up-edge, so the cut ends an up session (next: Resumed).
        var seen = connection.Lifecycle.Current;
        Assert.True(seen.IsUp && seen.Epoch == 0, $"a frame was read, yet the lifecycle shows {seen}");
        (await server.WaitForConnectionAsync(first)).Abort();
        var second = SessionNumber(await NextTextAsync(frames));
        await connection.Sink.SendAsync(Frame.Text("after resume"));
        Assert.Equal("after resume", await NextTextAsync(frames));
        // Waited for rather than read: the second session may have been cut again meanwhile on a loaded machine.
        var resumed = await connection.Lifecycle.WaitAsync(s => s.IsUp && s.Epoch >= 1).AsTask().WaitAsync(Bound);

        Assert.True(second > first);
        Assert.Equal(ConnectionPhase.Resumed, resumed.Phase);
        Assert.Equal(1, resumed.Epoch);
        Assert.True(server.ServerNames.Count >= 2);
        Assert.All(server.ServerNames, name => Assert.Equal("localhost", name)); // a new TLS session per connection, SNI each time
        await connection.Control.ShutdownAsync().WaitAsync(Bound);
    }

    [Theory]
    [MemberData(nameof(Setups))]
    public async Task Stack_against_an_untrusted_certificate_ends_Unrecoverable_after_the_permanent_retries_without_a_reconnect_storm(NetworkSetup setup)
    {
        using var certificate = _ca.IssueServer(["localhost"]);
        await using var server = await LoopbackServer.StartTlsAsync(s => s.AcceptAsync(), certificate);
        var builder = StackBuilder(Localhost(server), permanentRetries: 2);
        using var invoker = NetworkSetups.Configure(builder, setup, trust: null, proxy: null);
        await using var connection = await builder.Build().ConnectAsync();

        var final = await connection.Lifecycle.WaitAsync(s => s.IsTerminal).AsTask().WaitAsync(Bound);

        Assert.Equal(ConnectionPhase.Unrecoverable, final.Phase);
        Assert.Equal(TransportErrorKind.Tls, final.LastError?.Kind);
        Assert.Equal(3, final.Attempts); // the first attempt plus two permanent retries, then stop
        Assert.Equal(3, server.ServerNames.Count); // three TLS handshakes reached the server, no more
        Assert.Empty(server.Handshakes);
        AssertNoSecrets(final.LastError!);
        var sourceError = await Assert.ThrowsAsync<TransportException>(async () =>
        {
            await foreach (var _ in connection.Source.WithCancellation(CancellationToken.None))
            {
            }
        }).WaitAsync(Bound);
        Assert.Equal(TransportErrorKind.Tls, sourceError.Kind);
    }

    public static TheoryData<NetworkSetup> Setups => NetworkSetups.All;

    /// <summary>wss://localhost:PORT/ws?token=SECRET: a host name (so SNI is sent) and a credential that must never leak.</summary>
    private static Uri Localhost(LoopbackServer server) =>
        new($"wss://localhost:{server.WebSocketUri.Port}/ws?token={Secret}");

    internal static WebSocketTransportBuilder StackBuilder(Uri uri, int permanentRetries = 2) =>
        new WebSocketTransportBuilder().Configure(o => o
            .WithName("tls-" + Guid.NewGuid().ToString("N")[..8])
            .WithUri(uri)
            .WithBackoff(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(100), useJitter: false)
            .WithConnectTimeout(TimeSpan.FromSeconds(30)) // a TLS handshake on a loaded machine must not look like a hang
            .WithCloseTimeout(TimeSpan.FromSeconds(2))
            .WithPermanentRetries(permanentRetries));

    internal static int SessionNumber(string hello)
    {
        Assert.StartsWith("hello ", hello, StringComparison.Ordinal);
        return int.Parse(hello["hello ".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static async Task<string> NextTextAsync(IAsyncEnumerator<Frame> frames)
    {
        Assert.True(await frames.MoveNextAsync().AsTask().WaitAsync(Bound));
        return frames.Current.GetText();
    }

    private static async Task<TransportException> ConnectFailsAsync(ILeafConnector leaf, LoopbackServer server) =>
        await Assert.ThrowsAsync<TransportException>(() => leaf.ConnectAsync(new HandshakeRequest(Localhost(server)), CancellationToken.None).AsTask().WaitAsync(Bound));

    internal static void AssertNoSecrets(TransportException error)
    {
        Assert.DoesNotContain(Secret, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("localhost:", error.Message, StringComparison.Ordinal); // no URI at all
    }
}
