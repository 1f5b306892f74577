namespace Transport;

/// <summary>
/// The rules every <see cref="TransportOptions"/> must satisfy, shared by the builder and the
/// Options-pattern validator so both fail the same way, naming the field.
/// </summary>
public static class TransportOptionsValidation
{
    /// <summary>The shortest <see cref="ReconnectOptions.ConnectTimeout"/> accepted: 10 ms.</summary>
    public static readonly TimeSpan MinConnectTimeout = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest <see cref="ReconnectOptions.ConnectTimeout"/> accepted: 1 day.</summary>
    public static readonly TimeSpan MaxConnectTimeout = TimeSpan.FromDays(1);

    /// <summary>The largest <see cref="SendRateLimit.MaxFrames"/> accepted: 1,000,000.</summary>
    public const int MaxRateLimitFrames = 1_000_000;

    /// <summary>Every rule the options break, each message starting with the field's path.</summary>
    /// <param name="options">The options.</param>
    /// <returns>An empty list when valid.</returns>
    public static IReadOnlyList<string> Validate(TransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        void Fail(string field, string rule) => errors.Add($"{field}: {rule}");

        if (string.IsNullOrWhiteSpace(options.Name))
        {
            Fail(nameof(TransportOptions.Name), "must not be empty.");
        }

        if (options.Uri is null)
        {
            Fail(nameof(TransportOptions.Uri), "is required.");
        }
        else if (!options.Uri.IsAbsoluteUri || options.Uri.Scheme is not ("ws" or "wss"))
        {
            Fail(nameof(TransportOptions.Uri), "must be an absolute ws:// or wss:// URI.");
        }

        for (var i = 0; i < (options.FailoverUris?.Count ?? 0); i++)
        {
            if (options.FailoverUris![i] is not { IsAbsoluteUri: true, Scheme: "ws" or "wss" })
            {
                Fail($"FailoverUris[{i}]", "must be an absolute ws:// or wss:// URI.");
            }
        }

        if (options.Session is null)
        {
            Fail(nameof(TransportOptions.Session), "is required.");
        }
        else
        {
            if (options.Session.InitializeTimeout <= TimeSpan.Zero)
            {
                Fail("Session.InitializeTimeout", "must be positive.");
            }

            if (options.Session.Lifetime is { } lifetime && lifetime <= TimeSpan.Zero)
            {
                Fail("Session.Lifetime", "must be positive when set.");
            }

            if (options.Session.RotateBefore is { } rotateBefore)
            {
                if (rotateBefore <= TimeSpan.Zero)
                {
                    Fail("Session.RotateBefore", "must be positive when set.");
                }

                if (options.Session.Lifetime is not { } life)
                {
                    Fail("Session.RotateBefore", "requires Session.Lifetime.");
                }
                else if (life > TimeSpan.Zero && rotateBefore >= life)
                {
                    Fail("Session.RotateBefore", $"must be < Session.Lifetime ({life}).");
                }
            }
        }

        if (!Enum.IsDefined(options.Leaf))
        {
            Fail(nameof(TransportOptions.Leaf), $"must be {nameof(LeafKind.ClientWebSocket)} or {nameof(LeafKind.Pipelines)}.");
        }

        if (options.CloseTimeout < TimeSpan.Zero)
        {
            Fail(nameof(TransportOptions.CloseTimeout), "must not be negative.");
        }

        var r = options.Reconnect;
        if (r is null)
        {
            Fail(nameof(TransportOptions.Reconnect), "is required.");
        }
        else
        {
            if (r.MinBackoff < TimeSpan.Zero)
            {
                Fail("Reconnect.MinBackoff", "must not be negative.");
            }

            if (r.MaxBackoff < r.MinBackoff)
            {
                Fail("Reconnect.MaxBackoff", $"must be >= Reconnect.MinBackoff ({r.MinBackoff}).");
            }

            // The per-attempt timeout runs on Polly's timeout strategy, which accepts 10 ms .. 1 day and
            // otherwise throws its own ValidationException at ConnectAsync, naming none of our fields.
            if (r.ConnectTimeout < MinConnectTimeout || r.ConnectTimeout > MaxConnectTimeout)
            {
                Fail("Reconnect.ConnectTimeout", $"must be between {MinConnectTimeout} and {MaxConnectTimeout} (got {r.ConnectTimeout}).");
            }

            if (r.MaxAttemptsPerWindow is < 1)
            {
                Fail("Reconnect.MaxAttemptsPerWindow", "must be >= 1 when set.");
            }

            if (r.AttemptRateWindow <= TimeSpan.Zero)
            {
                Fail("Reconnect.AttemptRateWindow", "must be positive.");
            }

            if (r.PermanentRetries < 0)
            {
                Fail("Reconnect.PermanentRetries", "must not be negative.");
            }

            if (r.MaxAttempts is < 1)
            {
                Fail("Reconnect.MaxAttempts", "must be >= 1 when set.");
            }

            if (r.StableAfter < TimeSpan.Zero)
            {
                Fail("Reconnect.StableAfter", "must not be negative.");
            }

            if (r.MaxRetryAfter < TimeSpan.Zero)
            {
                Fail("Reconnect.MaxRetryAfter", "must not be negative.");
            }
        }

        var rx = options.Receive;
        if (rx is null)
        {
            Fail(nameof(TransportOptions.Receive), "is required.");
        }
        else
        {
            if (rx.RingCapacityFrames < 1)
            {
                Fail("Receive.RingCapacityFrames", "must be >= 1.");
            }

            if (rx.RingCapacityBytes < 1)
            {
                Fail("Receive.RingCapacityBytes", "must be >= 1.");
            }

            if (rx.MaxMessageBytes < 1)
            {
                Fail("Receive.MaxMessageBytes", "must be >= 1.");
            }
        }

        var tx = options.Send;
        if (tx is null)
        {
            Fail(nameof(TransportOptions.Send), "is required.");
        }
        else
        {
            if (tx.CapacityFrames < 1)
            {
                Fail("Send.CapacityFrames", "must be >= 1.");
            }

            if (tx.CapacityBytes < 1)
            {
                Fail("Send.CapacityBytes", "must be >= 1.");
            }

            if (tx.WriteTimeout is { } write && (write <= TimeSpan.Zero || write > TimeSpan.FromDays(1)))
            {
                Fail("Send.WriteTimeout", "must be positive and at most 1 day when set.");
            }

            if (tx.RateLimit is { } rate)
            {
                if (rate.MaxFrames < 1)
                {
                    Fail("Send.RateLimit.MaxFrames", "must be >= 1.");
                }

                // The log holds MaxFrames timestamps: a bound keeps a typo from allocating gigabytes.
                if (rate.MaxFrames > MaxRateLimitFrames)
                {
                    Fail("Send.RateLimit.MaxFrames", $"must be <= {MaxRateLimitFrames}.");
                }

                if (rate.Window <= TimeSpan.Zero)
                {
                    Fail("Send.RateLimit.Window", "must be positive.");
                }
            }
        }

        var l = options.Liveness;
        if (l is null)
        {
            Fail(nameof(TransportOptions.Liveness), "is required.");
        }
        else
        {
            if (l.StaleAfter is { } stale && stale <= TimeSpan.Zero)
            {
                Fail("Liveness.StaleAfter", "must be positive when set.");
            }

            if (l.DeadAfter is { } dead && dead <= TimeSpan.Zero)
            {
                Fail("Liveness.DeadAfter", "must be positive when set.");
            }

            if (l.StaleAfter is { } s && l.DeadAfter is { } d && s >= d)
            {
                Fail("Liveness.StaleAfter", $"must be < Liveness.DeadAfter ({d}).");
            }

            if (l.ReconnectAfterDataSilence is { } silence && silence <= TimeSpan.Zero)
            {
                Fail("Liveness.ReconnectAfterDataSilence", "must be positive when set.");
            }

            if (l.StaleAfter is { } st && l.ReconnectAfterDataSilence is { } si && st >= si)
            {
                Fail("Liveness.StaleAfter", $"must be < Liveness.ReconnectAfterDataSilence ({si}).");
            }

            if (l.KeepAliveInterval is { } ka && ka < TimeSpan.Zero)
            {
                Fail("Liveness.KeepAliveInterval", "must not be negative.");
            }

            if (l.KeepAliveTimeout is { } kt && kt <= TimeSpan.Zero)
            {
                Fail("Liveness.KeepAliveTimeout", "must be positive when set.");
            }

            // The active probe must get a chance to fire before the idle threshold gives up on the socket.
            var idle = l.DeadAfter ?? l.StaleAfter;
            if (l.KeepAliveInterval is { } probe && probe > TimeSpan.Zero && idle is { } threshold && probe >= threshold)
            {
                Fail("Liveness.KeepAliveInterval", $"must be < the idle threshold ({threshold}).");
            }
        }

        return errors;
    }

    /// <summary>Throws when <paramref name="options"/> break any rule.</summary>
    /// <param name="options">The options.</param>
    /// <exception cref="TransportConfigurationException">At least one rule is broken; every one is listed.</exception>
    public static void ThrowIfInvalid(TransportOptions options)
    {
        var errors = Validate(options);
        if (errors.Count > 0)
        {
            throw new TransportConfigurationException(errors);
        }
    }
}

/// <summary>Invalid configuration: each entry of <see cref="Errors"/> names its field.</summary>
public sealed class TransportConfigurationException : ArgumentException
{
    /// <summary>Creates the error.</summary>
    /// <param name="errors">The broken rules, each starting with the field path.</param>
    public TransportConfigurationException(IReadOnlyList<string> errors)
        : base("Invalid transport configuration: " + string.Join(" ", errors), errors.Count > 0 ? errors[0].Split(':')[0] : null)
    {
        Errors = errors;
    }

    /// <summary>The broken rules.</summary>
    public IReadOnlyList<string> Errors { get; }
}
