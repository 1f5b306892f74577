using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Transport.WebSockets.Connection;
using Transport.WebSockets.Telemetry;

namespace Transport.WebSockets;

/// <summary>
/// Assembles the reconnecting stack: options (validated at <see cref="Build"/>), the leaf
/// connector (<see cref="TransportOptions.Leaf"/>: the Pipelines leaf by default), auth, classification, time, spawn and logging.
/// </summary>
/// <example>
/// <code>
/// var connector = new WebSocketTransportBuilder()
///     .Configure(o => o.WithUri("wss://stream.example.com/ws").WithSendRateLimit(5, TimeSpan.FromSeconds(1)))
///     .WithAuth(AuthSources.BearerToken(() => tokens.Current))
///     .Build();
/// await using var connection = await connector.ConnectAsync(cancellationToken); // completes when connected
/// </code>
/// </example>
public sealed class WebSocketTransportBuilder
{
    private TransportOptionsBuilder _options;
    private ILeafConnector? _leaf;
    private readonly ClientWebSocketConnectorOptions _leafOptions = new();
    private bool _clientWebSocketConfigured;
    private PipeWebSocketConnectorOptions? _pipeLeafOptions;
    private IAuthSource _auth = AuthSources.None;
    private IFailureClassifier _classifier = DefaultFailureClassifier.Instance;
    private TimeProvider _time = TimeProvider.System;
    private ISpawner _spawner = ThreadPoolSpawner.Instance;
    private Func<double> _random = Random.Shared.NextDouble;
    private ILoggerFactory _loggers = NullLoggerFactory.Instance;
    private Meter? _meter;
    private ISessionInitializer? _initializer;
    private FrameKeySelector? _keySelector;
    private DedupeWindowOptions _dedupe = new();
    private IEndpointProvider? _endpoints;

    /// <summary>Starts from default options.</summary>
    public WebSocketTransportBuilder()
        : this(new TransportOptions())
    {
    }

    /// <summary>Starts from a copy of <paramref name="options"/> (validated at <see cref="Build"/>).</summary>
    /// <param name="options">The options.</param>
    public WebSocketTransportBuilder(TransportOptions options) => _options = new TransportOptionsBuilder(options);

    /// <summary>Edits the options.</summary>
    /// <param name="configure">Applied to the options builder.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder Configure(Action<TransportOptionsBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        configure(_options);
        return this;
    }

    /// <summary>Replaces the options.</summary>
    /// <param name="options">The options.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithOptions(TransportOptions options)
    {
        _options = new TransportOptionsBuilder(options);
        return this;
    }

    /// <summary>Uses another leaf connector (for example Transport.Mock's scripted connector).</summary>
    /// <param name="leaf">The leaf.</param>
    /// <returns>This builder.</returns>
    /// <remarks>
    /// The builder cannot configure a ready-made leaf: the transport-owned leaf settings
    /// (<c>WithMaxMessageSize</c>, <c>WithKeepAlive</c>) must then stay at their defaults, or
    /// <see cref="Build"/> fails naming them (see <see cref="LeafSettingOwnership"/>).
    /// </remarks>
    public WebSocketTransportBuilder UseLeaf(ILeafConnector leaf)
    {
        _leaf = leaf ?? throw new ArgumentNullException(nameof(leaf));
        _pipeLeafOptions = null;
        return this;
    }

    /// <summary>
    /// Uses the System.IO.Pipelines leaf (<see cref="PipeWebSocketConnector"/>): batch parsing, pings
    /// and pongs visible to the stack, handshake headers. The transport options supply its message
    /// limit and keep-alive, the builder its clock (one owner per setting: <see cref="Build"/> fails on a
    /// conflicting value in <paramref name="configure"/>). Sets <see cref="TransportOptions.Leaf"/> to
    /// <see cref="LeafKind.Pipelines"/>; calling it again edits the same settings.
    /// </summary>
    /// <param name="configure">Edits the leaf's own settings (HttpMessageInvoker, DeflateOptions, ReceiveBufferBytes, ConfigureRequest).</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder UsePipelinesLeaf(Action<PipeWebSocketConnectorOptions>? configure = null)
    {
        _pipeLeafOptions ??= new PipeWebSocketConnectorOptions();
        configure?.Invoke(_pipeLeafOptions);
        _options.WithLeaf(LeafKind.Pipelines);
        _leaf = null;
        return this;
    }

    /// <summary>
    /// Uses the platform's ClientWebSocket leaf (<see cref="ClientWebSocketConnector"/>) and edits its
    /// options (HttpMessageInvoker, deflate, buffer size, socket escape hatch). Sets
    /// <see cref="TransportOptions.Leaf"/> to <see cref="LeafKind.ClientWebSocket"/>, as
    /// <see cref="UsePipelinesLeaf"/> sets <see cref="LeafKind.Pipelines"/>. <see cref="Build"/> fails
    /// naming <see cref="TransportOptions.Leaf"/> if the Pipelines leaf is chosen afterwards (these
    /// settings would otherwise be dropped silently).
    /// </summary>
    /// <param name="configure">Applied to the leaf options.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder ConfigureClientWebSocket(Action<ClientWebSocketConnectorOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        configure(_leafOptions);
        _clientWebSocketConfigured = true;
        _options.WithLeaf(LeafKind.ClientWebSocket);
        _leaf = null;
        return this;
    }

    /// <summary>Sets the auth source, called on every connect attempt.</summary>
    /// <param name="auth">The source.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithAuth(IAuthSource auth)
    {
        _auth = auth ?? throw new ArgumentNullException(nameof(auth));
        return this;
    }

    /// <summary>
    /// Sets the session initializer, run on every new socket before queued data frames are released
    /// and before Connected/Resumed is published (login, resubscribe, resume). Bounded by
    /// <see cref="SessionOptions.InitializeTimeout"/>; a failure is classified like a failed attempt.
    /// </summary>
    /// <param name="initializer">The initializer.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithSessionInitializer(ISessionInitializer initializer)
    {
        _initializer = initializer ?? throw new ArgumentNullException(nameof(initializer));
        return this;
    }

    /// <summary>
    /// Sets the dedupe key of the venue's messages, used while a make-before-break rotation has two sockets
    /// open (<see cref="IConnectionControl.RotateAsync"/>): a keyed frame received on both is delivered once
    /// (first arrival wins) within <paramref name="window"/>. Without it, every frame counts as unkeyed during a
    /// rotation: from the old socket until the switch, from the new one after it.
    /// </summary>
    /// <param name="selector">Reads a frame's key (fast, allocation-free, never blocking; an exception means "no key").</param>
    /// <param name="window">The window's bounds; null: the defaults (100,000 keys, 10 s).</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A bound of <paramref name="window"/> is out of range (the message names it).</exception>
    public WebSocketTransportBuilder WithDedupeKey(FrameKeySelector selector, DedupeWindowOptions? window = null)
    {
        _keySelector = selector ?? throw new ArgumentNullException(nameof(selector));
        var bounds = window ?? new DedupeWindowOptions();
        bounds.Validate("WithDedupeKey.window");
        _dedupe = bounds;
        return this;
    }

    /// <summary>Sets the session initializer from a delegate (see <see cref="WithSessionInitializer(ISessionInitializer)"/>).</summary>
    /// <param name="initialize">Called on every new socket.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithSessionInitializer(Func<ISessionContext, CancellationToken, ValueTask> initialize) =>
        WithSessionInitializer(SessionInitializers.From(initialize));

    /// <summary>
    /// Chooses the endpoint of every attempt (replacing the configured URI and failover list): failover
    /// policies, or URIs stamped from adapter state such as a resume cursor.
    /// </summary>
    /// <param name="endpoints">The provider.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithEndpointProvider(IEndpointProvider endpoints)
    {
        _endpoints = endpoints ?? throw new ArgumentNullException(nameof(endpoints));
        return this;
    }

    /// <summary>Sets the failure classifier.</summary>
    /// <param name="classifier">The classifier.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithClassifier(IFailureClassifier classifier)
    {
        _classifier = classifier ?? throw new ArgumentNullException(nameof(classifier));
        return this;
    }

    /// <summary>Sets the clock (a manual one in tests).</summary>
    /// <param name="time">The clock.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithTimeProvider(TimeProvider time)
    {
        _time = time ?? throw new ArgumentNullException(nameof(time));
        return this;
    }

    /// <summary>Sets the spawn seam (a pumped one in tests).</summary>
    /// <param name="spawner">The spawner.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithSpawner(ISpawner spawner)
    {
        _spawner = spawner ?? throw new ArgumentNullException(nameof(spawner));
        return this;
    }

    /// <summary>Sets the randomizer behind backoff jitter (returns values in [0, 1)).</summary>
    /// <param name="random">The randomizer.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithRandom(Func<double> random)
    {
        _random = random ?? throw new ArgumentNullException(nameof(random));
        return this;
    }

    /// <summary>Sets the logger factory.</summary>
    /// <param name="loggers">The factory.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithLoggerFactory(ILoggerFactory loggers)
    {
        _loggers = loggers ?? throw new ArgumentNullException(nameof(loggers));
        return this;
    }

    /// <summary>Sets the Meter the instruments are created on (by default a shared one named <see cref="TransportTelemetry.Name"/>).</summary>
    /// <param name="meter">The meter.</param>
    /// <returns>This builder.</returns>
    public WebSocketTransportBuilder WithMeter(Meter meter)
    {
        _meter = meter ?? throw new ArgumentNullException(nameof(meter));
        return this;
    }

    /// <summary>Validates everything and assembles the connector.</summary>
    /// <returns>The connector.</returns>
    /// <exception cref="TransportConfigurationException">The options break a rule; the message names the field.</exception>
    public ReconnectingConnector Build()
    {
        var options = _options.Build();
        if (_leaf is not null)
        {
            ThrowOnConflicts(LeafSettingOwnership.UnreachableByReadyMadeLeaf(options));
        }

        var leaf = _leaf ?? BuiltInLeaf(options);
        return new ReconnectingConnector(new ConnectionServices(options, leaf, _auth, _classifier, _time, _spawner, _random, _loggers, new ConnectionTelemetryFactory(_meter))
        {
            Initializer = _initializer,
            Endpoints = _endpoints,
            KeySelector = _keySelector,
            Dedupe = _dedupe,
        });
    }

    // The options choose the built-in leaf; settings made for the other one are a conflict, never dropped.
    private ILeafConnector BuiltInLeaf(TransportOptions options)
    {
        if (options.Leaf == LeafKind.Pipelines)
        {
            if (_clientWebSocketConfigured)
            {
                ThrowOnConflicts([$"{nameof(TransportOptions.Leaf)}: is {nameof(LeafKind.Pipelines)}, but ConfigureClientWebSocket(...) configured the ClientWebSocket leaf; set those settings through UsePipelinesLeaf(...) instead."]);
            }

            _pipeLeafOptions ??= new PipeWebSocketConnectorOptions();
            return new PipeWebSocketConnector(PipeLeafOptionsFor(options));
        }

        if (_pipeLeafOptions is not null)
        {
            ThrowOnConflicts([$"{nameof(TransportOptions.Leaf)}: is {options.Leaf}, but UsePipelinesLeaf(...) configured the Pipelines leaf; choose one."]);
        }

        return new ClientWebSocketConnector(LeafOptionsFor(options));
    }

    // One owner per setting (LeafSettingOwnership): the transport options own the limits both layers
    // must agree on, the builder owns the clock, the leaf options own how a socket is opened.
    private ClientWebSocketConnectorOptions LeafOptionsFor(TransportOptions options)
    {
        ThrowOnConflicts(LeafSettingOwnership.Conflicts(options, "ClientWebSocketConnectorOptions", _leafOptions.MaxMessageBytes, _leafOptions.KeepAliveInterval, _leafOptions.KeepAliveTimeout, _leafOptions.TimeProvider, _time));
        return new ClientWebSocketConnectorOptions
        {
            HttpMessageInvoker = _leafOptions.HttpMessageInvoker,
            DeflateOptions = _leafOptions.DeflateOptions,
            ReceiveBufferBytes = _leafOptions.ReceiveBufferBytes,
            ConfigureSocket = _leafOptions.ConfigureSocket,
            MaxMessageBytes = options.Receive.MaxMessageBytes,
            KeepAliveInterval = options.Liveness.KeepAliveInterval,
            KeepAliveTimeout = options.Liveness.KeepAliveTimeout,
            TimeProvider = _time,
            Payloads = Buffering.PayloadAllocator.For(options.Receive.LeasedPayloads),
        };
    }

    private PipeWebSocketConnectorOptions PipeLeafOptionsFor(TransportOptions options)
    {
        var own = _pipeLeafOptions!;
        ThrowOnConflicts(LeafSettingOwnership.Conflicts(options, "PipeWebSocketConnectorOptions", own.MaxMessageBytes, own.KeepAliveInterval, own.KeepAliveTimeout, own.TimeProvider, _time));
        var copy = own.Copy();
        copy.MaxMessageBytes = options.Receive.MaxMessageBytes;
        copy.KeepAliveInterval = options.Liveness.KeepAliveInterval;
        copy.KeepAliveTimeout = options.Liveness.KeepAliveTimeout;
        copy.TimeProvider = _time;
        copy.Payloads = Buffering.PayloadAllocator.For(options.Receive.LeasedPayloads);
        return copy;
    }

    private static void ThrowOnConflicts(List<string> errors)
    {
        if (errors.Count > 0)
        {
            throw new TransportConfigurationException(errors);
        }
    }
}
