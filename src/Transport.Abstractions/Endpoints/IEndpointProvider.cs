namespace Transport;

/// <summary>
/// Chooses the endpoint of each connect attempt: failover across several endpoints, or a URI
/// stamped from the adapter's state (for example <c>?resume_from=&lt;last seq&gt;</c>) on every attempt.
/// </summary>
/// <remarks>
/// Called inside every attempt, before the <see cref="IAuthSource"/> stamps credentials, bounded by
/// the connect timeout. An exception fails the attempt (classified like any connect failure). Mark
/// a credential in the returned URI's path with <see cref="TransportEndpoint.SensitivePathSegments"/> (or
/// <see cref="TransportOptions.SensitivePathSegments"/>) so logs, traces and exceptions redact it.
/// </remarks>
public interface IEndpointProvider
{
    /// <summary>The endpoint for one attempt.</summary>
    /// <param name="context">Which attempt this is and the configured endpoints.</param>
    /// <param name="cancellationToken">The attempt's token.</param>
    /// <returns>The endpoint (an absolute ws:// or wss:// URI).</returns>
    ValueTask<TransportEndpoint> GetEndpointAsync(EndpointContext context, CancellationToken cancellationToken);
}

/// <summary>One endpoint to connect to.</summary>
/// <param name="Uri">An absolute ws:// or wss:// URI.</param>
/// <param name="SensitivePathSegments">
/// Path segments to redact wherever the URI is shown: 0 is the first segment after the host, -1 the
/// last (e.g. <c>[-1]</c> for <c>/ws/&lt;listenKey&gt;</c>). Null: only the configured ones.
/// </param>
public sealed record TransportEndpoint(Uri Uri, IReadOnlyList<int>? SensitivePathSegments = null)
{
    /// <summary>An endpoint with nothing extra to redact.</summary>
    /// <param name="uri">The URI.</param>
    public static implicit operator TransportEndpoint(Uri uri) => new(uri);

    /// <summary>The redacted URI.</summary>
    public override string ToString() => Redaction.RedactUri(Uri, null, SensitivePathSegments);
}

/// <summary>What an endpoint provider knows about the attempt.</summary>
/// <param name="Attempt">The cumulative attempt number, from 1.</param>
/// <param name="AttemptInCycle">The attempt number since the last successful connect (or the start), from 1.</param>
/// <param name="Epoch">The epoch the attempt will open if it succeeds.</param>
/// <param name="IsReconnect">False only for attempts before the first successful connection.</param>
/// <param name="Configured">The configured endpoints: <see cref="TransportOptions.Uri"/> then <see cref="TransportOptions.FailoverUris"/>.</param>
/// <param name="LastError">The failure of the previous attempt or session, if any.</param>
public readonly record struct EndpointContext(
    long Attempt,
    int AttemptInCycle,
    long Epoch,
    bool IsReconnect,
    IReadOnlyList<Uri> Configured,
    TransportException? LastError);

/// <summary>Ready-made endpoint providers.</summary>
public static class EndpointProviders
{
    /// <summary>
    /// Failover in the configured order: each connect cycle starts at the first endpoint and every
    /// failed attempt moves to the next, wrapping around (the backoff still applies between attempts).
    /// This is the default when <see cref="TransportOptions.FailoverUris"/> is set.
    /// </summary>
    public static IEndpointProvider Failover { get; } = From(static context =>
        context.Configured[(context.AttemptInCycle - 1) % context.Configured.Count]);

    /// <summary>An endpoint provider from a synchronous delegate.</summary>
    /// <param name="select">Called on every attempt.</param>
    /// <returns>The provider.</returns>
    public static IEndpointProvider From(Func<EndpointContext, TransportEndpoint> select)
    {
        ArgumentNullException.ThrowIfNull(select);
        return new DelegateProvider((context, _) => ValueTask.FromResult(select(context)));
    }

    /// <summary>An endpoint provider from an asynchronous delegate.</summary>
    /// <param name="select">Called on every attempt.</param>
    /// <returns>The provider.</returns>
    public static IEndpointProvider From(Func<EndpointContext, CancellationToken, ValueTask<TransportEndpoint>> select)
    {
        ArgumentNullException.ThrowIfNull(select);
        return new DelegateProvider(select);
    }

    private sealed class DelegateProvider(Func<EndpointContext, CancellationToken, ValueTask<TransportEndpoint>> select) : IEndpointProvider
    {
        public ValueTask<TransportEndpoint> GetEndpointAsync(EndpointContext context, CancellationToken cancellationToken) => select(context, cancellationToken);
    }
}
