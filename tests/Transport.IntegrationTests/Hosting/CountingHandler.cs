namespace Transport.IntegrationTests.Hosting;

/// <summary>A delegating handler on the transport's named HttpClient: counts the handshakes it carries.</summary>
internal sealed class CountingHandler(HandshakeCounter counter) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        counter.Record(request);
        return base.SendAsync(request, cancellationToken);
    }
}

/// <summary>What <see cref="CountingHandler"/> saw.</summary>
internal sealed class HandshakeCounter
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public string? LastPath { get; private set; }

    public void Record(HttpRequestMessage request)
    {
        LastPath = request.RequestUri?.AbsolutePath;
        Interlocked.Increment(ref _count);
    }
}
