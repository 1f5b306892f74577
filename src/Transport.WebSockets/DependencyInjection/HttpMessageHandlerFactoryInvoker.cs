namespace Transport.WebSockets.DependencyInjection;

/// <summary>
/// The leaf's <see cref="HttpMessageInvoker"/> when hosted: every handshake goes through the
/// handler pipeline of a named HttpClient (<c>services.AddHttpClient(name)</c>), so proxies, TLS
/// settings and delegating handlers are configured the usual way.
/// </summary>
/// <remarks>
/// The handler is asked for on every attempt rather than once, so the factory's handler rotation
/// (HandlerLifetime: DNS changes, certificate reloads) applies to long-lived connections' reconnects.
/// The factory owns the handlers; nothing here disposes them.
/// </remarks>
internal sealed class HttpMessageHandlerFactoryInvoker(IHttpMessageHandlerFactory factory, string httpClientName)
    : HttpMessageInvoker(NotUsedHandler.Instance, disposeHandler: false)
{
    public string HttpClientName => httpClientName;

    public override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        new HttpMessageInvoker(CreateHandler(), disposeHandler: false).SendAsync(request, cancellationToken);

    public override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        new HttpMessageInvoker(CreateHandler(), disposeHandler: false).Send(request, cancellationToken);

    // A handler that was never registered, or whose constructor throws, fails every attempt the same
    // way: a configuration error (Permanent, logged once with the container's message), not a
    // network blip retried for ever as WebSocketError.Faulted.
    private HttpMessageHandler CreateHandler()
    {
        try
        {
            return factory.CreateHandler(httpClientName);
        }
        catch (Exception ex)
        {
            throw TransportException.Configuration(
                $"The HTTP handler pipeline of HttpClient '{httpClientName}' could not be built ({ex.GetType().Name}: {WebSocketFailures.RedactMessage(ex.Message)}). Register every handler the HttpClient's configuration adds.",
                ex);
        }
    }

    // HttpMessageInvoker needs a handler; both send paths are overridden, so this one never runs.
    private sealed class NotUsedHandler : HttpMessageHandler
    {
        public static readonly NotUsedHandler Instance = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("Unreachable: HttpMessageHandlerFactoryInvoker overrides SendAsync.");
    }
}
