namespace Transport;

/// <summary>
/// Stamps the current credentials onto a handshake. Called inside <b>every</b> connect attempt,
/// never cached from the first one, so a rotated token or cookie is picked up by the next
/// reconnect.
/// </summary>
/// <remarks>
/// It may also stamp a resume cursor (for example <c>resume_from=&lt;last seq&gt;</c>) for servers
/// that support session resume. Add any non-standard credential names to
/// <see cref="HandshakeRequest.SensitiveNames"/> so they are redacted.
/// </remarks>
public interface IAuthSource
{
    /// <summary>Stamps credentials onto <paramref name="request"/>.</summary>
    /// <param name="request">This attempt's handshake.</param>
    /// <param name="context">Which attempt this is.</param>
    /// <param name="cancellationToken">The attempt's token (bounded by the connect timeout).</param>
    /// <returns>Completes when the request is stamped.</returns>
    /// <exception cref="TransportException">Credentials cannot be had; classified like any connect failure.</exception>
    ValueTask StampAsync(HandshakeRequest request, AuthContext context, CancellationToken cancellationToken);
}

/// <summary>What an auth source knows about the attempt it stamps.</summary>
/// <param name="Epoch">The epoch the attempt will open if it succeeds.</param>
/// <param name="Attempt">The cumulative attempt number, from 1.</param>
/// <param name="IsReconnect">False only for attempts before the first successful connection.</param>
public readonly record struct AuthContext(long Epoch, long Attempt, bool IsReconnect);

/// <summary>Ready-made auth sources.</summary>
public static class AuthSources
{
    /// <summary>Stamps nothing.</summary>
    public static IAuthSource None { get; } = new DelegateAuthSource((_, _, _) => ValueTask.CompletedTask);

    /// <summary>An auth source from a delegate.</summary>
    /// <param name="stamp">Called on every attempt.</param>
    /// <returns>The source.</returns>
    public static IAuthSource From(Func<HandshakeRequest, AuthContext, CancellationToken, ValueTask> stamp) => new DelegateAuthSource(stamp);

    /// <summary>Stamps <c>Authorization: Bearer &lt;token&gt;</c>, reading the token anew on every attempt.</summary>
    /// <param name="currentToken">Returns the token current now.</param>
    /// <returns>The source.</returns>
    public static IAuthSource BearerToken(Func<string> currentToken)
    {
        ArgumentNullException.ThrowIfNull(currentToken);
        return From((request, _, _) =>
        {
            request.Headers["Authorization"] = "Bearer " + currentToken();
            return ValueTask.CompletedTask;
        });
    }

    private sealed class DelegateAuthSource(Func<HandshakeRequest, AuthContext, CancellationToken, ValueTask> stamp) : IAuthSource
    {
        public ValueTask StampAsync(HandshakeRequest request, AuthContext context, CancellationToken cancellationToken) =>
            stamp(request, context, cancellationToken);
    }
}
