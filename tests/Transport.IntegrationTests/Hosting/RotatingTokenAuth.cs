namespace Transport.IntegrationTests.Hosting;

/// <summary>The token an app would refresh in the background; a singleton in the container.</summary>
internal sealed class TokenStore
{
    public volatile string Current = "token-1";
}

/// <summary>An auth source resolved from the container (its TokenStore injected), counting its calls.</summary>
internal sealed class RotatingTokenAuth(TokenStore tokens) : IAuthSource
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public ValueTask StampAsync(HandshakeRequest request, AuthContext context, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        request.Headers["Authorization"] = "Bearer " + tokens.Current;
        request.Query["token"] = tokens.Current;
        return ValueTask.CompletedTask;
    }
}
