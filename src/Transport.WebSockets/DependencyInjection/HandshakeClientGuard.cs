using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.DependencyInjection;

/// <summary>
/// The last step of the transport's HttpClient pipeline (a post-configure action, so it runs after the
/// app's <c>ConfigurePrimaryHttpMessageHandler</c>): turns the platform's HTTP span off on the primary
/// handler, whoever made it (ADR 0018, Handshakes.H1). A primary handler that cannot be changed (not a
/// SocketsHttpHandler, or one already used elsewhere) is left alone and named once in a warning.
/// </summary>
internal sealed class HandshakeClientGuard(string httpClientName)
{
    // One warning per container and client: handlers are rebuilt at every HandlerLifetime rotation.
    private int _warned;

    public void Apply(HttpClientFactoryOptions options) =>
        options.HttpMessageHandlerBuilderActions.Add(builder =>
        {
            if (HandshakeHandlers.TrySuppressSpan(builder.PrimaryHandler) || Interlocked.Exchange(ref _warned, 1) != 0)
            {
                return;
            }

            if (builder.Services.GetService<ILoggerFactory>() is { } loggers)
            {
                HostingLog.HandshakeSpanKept(loggers.CreateLogger(HostingLog.Category), httpClientName, builder.PrimaryHandler.GetType().Name);
            }
        });
}
