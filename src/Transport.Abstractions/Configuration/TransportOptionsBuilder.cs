namespace Transport;

/// <summary>
/// Builds validated <see cref="TransportOptions"/>. <see cref="Build"/> checks every rule (cross-field
/// ones included) and throws <see cref="TransportConfigurationException"/> naming each bad field.
/// </summary>
public sealed class TransportOptionsBuilder
{
    private readonly TransportOptions _options;

    /// <summary>Starts from defaults.</summary>
    public TransportOptionsBuilder()
        : this(new TransportOptions())
    {
    }

    /// <summary>Starts from a copy of <paramref name="options"/>.</summary>
    /// <param name="options">Options to start from.</param>
    public TransportOptionsBuilder(TransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Clone();
    }

    /// <summary>Sets the connection's name.</summary>
    /// <param name="name">The name.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithName(string name) => Set(o => o.Name = name);

    /// <summary>Sets the endpoint.</summary>
    /// <param name="uri">A ws:// or wss:// URI.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithUri(Uri uri) => Set(o => o.Uri = uri);

    /// <summary>Sets the endpoint.</summary>
    /// <param name="uri">A ws:// or wss:// URI.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithUri(string uri) => Set(o => o.Uri = new Uri(uri, UriKind.Absolute));

    /// <summary>Adds endpoints tried in order after the primary one when attempts fail.</summary>
    /// <param name="uris">ws:// or wss:// URIs, in failover order.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithFailoverUris(params Uri[] uris) => Set(o => o.FailoverUris.AddRange(uris));

    /// <summary>Marks path segments of every endpoint as credentials (0 the first after the host, -1 the last).</summary>
    /// <param name="segments">Segment indices.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithSensitivePathSegments(params int[] segments) => Set(o => o.SensitivePathSegments.AddRange(segments));

    /// <summary>Marks header or query names as credentials (redacted in logs, traces and exception messages).</summary>
    /// <param name="names">Header or query parameter names.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithSensitiveNames(params string[] names) => Set(o => o.SensitiveNames.AddRange(names));

    /// <summary>Bounds the session initializer and selects the response headers kept in <see cref="SessionInfo"/>.</summary>
    /// <param name="initializeTimeout">The initializer's bound.</param>
    /// <param name="responseHeaders">Response header names to keep.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithSession(TimeSpan initializeTimeout, params string[] responseHeaders) =>
        Set(o => o.Session = o.Session with { InitializeTimeout = initializeTimeout, ResponseHeaders = [.. o.Session.ResponseHeaders, .. responseHeaders] });

    /// <summary>
    /// Declares the venue's session lifetime (see <see cref="SessionOptions.Lifetime"/>): a session that
    /// reached it is healthy however it ended, so the venue's scheduled close is never counted as a failure.
    /// </summary>
    /// <param name="lifetime">How long the venue keeps a connection (Binance: 24 h). Positive.</param>
    /// <param name="rotateBefore">
    /// How long before <paramref name="lifetime"/> a scheduled make-before-break rotation opens the next
    /// socket (see <see cref="SessionOptions.RotateBefore"/>); null: none. Positive and less than <paramref name="lifetime"/>.
    /// </param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithSessionLifetime(TimeSpan lifetime, TimeSpan? rotateBefore = null) =>
        Set(o => o.Session = o.Session with { Lifetime = lifetime, RotateBefore = rotateBefore });

    /// <summary>Adds a static handshake header.</summary>
    /// <param name="name">Header name.</param>
    /// <param name="value">Header value.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithHeader(string name, string value) => Set(o => o.Headers[name] = value);

    /// <summary>Adds a requested subprotocol.</summary>
    /// <param name="subProtocol">The subprotocol.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithSubProtocol(string subProtocol) => Set(o => o.SubProtocols.Add(subProtocol));

    /// <summary>Sets the backoff range.</summary>
    /// <param name="min">First delay.</param>
    /// <param name="max">Cap.</param>
    /// <param name="useJitter">Randomize delays.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithBackoff(TimeSpan min, TimeSpan max, bool useJitter = true) =>
        Set(o => o.Reconnect = o.Reconnect with { MinBackoff = min, MaxBackoff = max, UseJitter = useJitter });

    /// <summary>Sets each attempt's connect timeout.</summary>
    /// <param name="timeout">The bound.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithConnectTimeout(TimeSpan timeout) => Set(o => o.Reconnect = o.Reconnect with { ConnectTimeout = timeout });

    /// <summary>Caps connect attempts per sliding window.</summary>
    /// <param name="maxAttempts">Attempts allowed per window.</param>
    /// <param name="window">The window.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithAttemptRateLimit(int maxAttempts, TimeSpan window) =>
        Set(o => o.Reconnect = o.Reconnect with { MaxAttemptsPerWindow = maxAttempts, AttemptRateWindow = window });

    /// <summary>Turns the connect-attempt cap off (it is on by default: 300 per 5 minutes).</summary>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithoutAttemptRateLimit() => Set(o => o.Reconnect = o.Reconnect with { MaxAttemptsPerWindow = null });

    /// <summary>Sets how long a session must stay up to count as healthy (see <see cref="ReconnectOptions.StableAfter"/>).</summary>
    /// <param name="stableAfter">The bound; zero makes every session healthy.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithStableAfter(TimeSpan stableAfter) => Set(o => o.Reconnect = o.Reconnect with { StableAfter = stableAfter });

    /// <summary>Caps the wait a handshake's Retry-After can impose (see <see cref="ReconnectOptions.MaxRetryAfter"/>).</summary>
    /// <param name="maxRetryAfter">The cap; zero ignores Retry-After.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithMaxRetryAfter(TimeSpan maxRetryAfter) => Set(o => o.Reconnect = o.Reconnect with { MaxRetryAfter = maxRetryAfter });

    /// <summary>Sets the retries granted to a Permanent failure.</summary>
    /// <param name="retries">Retries before Unrecoverable.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithPermanentRetries(int retries) => Set(o => o.Reconnect = o.Reconnect with { PermanentRetries = retries });

    /// <summary>Gives up voluntarily after this many consecutive failed attempts (sets Exhausted).</summary>
    /// <param name="maxAttempts">The cap.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithMaxAttempts(int maxAttempts) => Set(o => o.Reconnect = o.Reconnect with { MaxAttempts = maxAttempts });

    /// <summary>Sets the receive ring's bounds.</summary>
    /// <param name="frames">Frame bound.</param>
    /// <param name="bytes">Byte bound.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithReceiveRing(int frames, long bytes) =>
        Set(o => o.Receive = o.Receive with { RingCapacityFrames = frames, RingCapacityBytes = bytes });

    /// <summary>Sets the maximum single message size.</summary>
    /// <param name="bytes">The limit.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithMaxMessageSize(int bytes) => Set(o => o.Receive = o.Receive with { MaxMessageBytes = bytes });

    /// <summary>
    /// Turns on lease mode: received frames are over pooled buffers, and the consumer calls
    /// <see cref="Frame.Release"/> once per frame when done with it (the rule is on <see cref="Frame"/>).
    /// </summary>
    /// <param name="enabled">True for lease mode; false (the default) for owned frames.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithLeasedPayloads(bool enabled = true) => Set(o => o.Receive = o.Receive with { LeasedPayloads = enabled });

    /// <summary>Sets the send queue's bounds.</summary>
    /// <param name="frames">Frame bound.</param>
    /// <param name="bytes">Byte bound.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithSendQueue(int frames, long bytes) =>
        Set(o => o.Send = o.Send with { CapacityFrames = frames, CapacityBytes = bytes });

    /// <summary>Sets how long one write may take before the socket is treated as dead (null: off).</summary>
    /// <param name="timeout">The bound, or null.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithWriteTimeout(TimeSpan? timeout) => Set(o => o.Send = o.Send with { WriteTimeout = timeout });

    /// <summary>
    /// Paces sends with the venue's rule: at most <paramref name="maxFrames"/> frames in any window
    /// of length <paramref name="window"/> (see <see cref="SendRateLimit"/> for which frames count).
    /// </summary>
    /// <param name="maxFrames">N, the most frames in any window.</param>
    /// <param name="window">T, the window's length.</param>
    /// <param name="countPongs">Whether protocol pongs count (default true, as on Binance).</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithSendRateLimit(int maxFrames, TimeSpan window, bool countPongs = true) =>
        Set(o => o.Send = o.Send with { RateLimit = new SendRateLimit { MaxFrames = maxFrames, Window = window, CountPongs = countPongs } });

    /// <summary>Sets the idle thresholds.</summary>
    /// <param name="staleAfter">No data frame for this long: Stale. Null: off.</param>
    /// <param name="deadAfter">No inbound frame the leaf can see for this long: reconnect (see <see cref="LivenessOptions.DeadAfter"/>). Null: off.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithIdleTimeouts(TimeSpan? staleAfter, TimeSpan? deadAfter) =>
        Set(o => o.Liveness = o.Liveness with { StaleAfter = staleAfter, DeadAfter = deadAfter });

    /// <summary>
    /// Opt-in: tears the socket down after this long without a data frame, even while pings or pongs
    /// still arrive (for venues that go silent without closing).
    /// </summary>
    /// <param name="silence">The bound.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithReconnectOnDataSilence(TimeSpan silence) =>
        Set(o => o.Liveness = o.Liveness with { ReconnectAfterDataSilence = silence });

    /// <summary>Sets the leaf's active probe.</summary>
    /// <param name="interval">Keep-alive ping interval.</param>
    /// <param name="timeout">Pong timeout; null: no pong check.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithKeepAlive(TimeSpan interval, TimeSpan? timeout) =>
        Set(o => o.Liveness = o.Liveness with { KeepAliveInterval = interval, KeepAliveTimeout = timeout });

    /// <summary>Sets the bound on the shutdown close handshake.</summary>
    /// <param name="timeout">The bound.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithCloseTimeout(TimeSpan timeout) => Set(o => o.CloseTimeout = timeout);

    /// <summary>Chooses the built-in leaf the sockets are opened with (see <see cref="TransportOptions.Leaf"/>).</summary>
    /// <param name="leaf">The leaf.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder WithLeaf(LeafKind leaf) => Set(o => o.Leaf = leaf);

    /// <summary>Applies any other change.</summary>
    /// <param name="configure">Mutates the options being built.</param>
    /// <returns>This builder.</returns>
    public TransportOptionsBuilder Configure(Action<TransportOptions> configure) => Set(configure);

    /// <summary>Validates and returns a copy the builder no longer touches.</summary>
    /// <returns>Valid options.</returns>
    /// <exception cref="TransportConfigurationException">A rule is broken; the message names every bad field.</exception>
    public TransportOptions Build()
    {
        TransportOptionsValidation.ThrowIfInvalid(_options);
        return _options.Clone();
    }

    private TransportOptionsBuilder Set(Action<TransportOptions> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        change(_options);
        return this;
    }
}
