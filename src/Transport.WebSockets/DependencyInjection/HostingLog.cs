using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.DependencyInjection;

/// <summary>The log lines of the DI registration and the hosted connections (category <see cref="Category"/>).</summary>
/// <remarks>Parameters are names, types, kinds and counts: never a URI, header or message text.</remarks>
internal static partial class HostingLog
{
    public const string Category = "Transport.WebSockets.Hosting";

    [LoggerMessage(EventId = 1, EventName = "HandshakeSpanKept", Level = LogLevel.Warning, Message = "HttpClient {HttpClientName}: its primary handler ({HandlerType}) is not a SocketsHttpHandler the transport can change, so the platform's System.Net.Http.HttpRequestOut span of each handshake keeps the URL path (a listen key in the path is visible to HTTP instrumentation). Use a SocketsHttpHandler (ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler()), or set ActivityHeadersPropagator = null on yours.")]
    public static partial void HandshakeSpanKept(ILogger logger, string httpClientName, string handlerType);

    [LoggerMessage(EventId = 2, EventName = "HostedStarted", Level = LogLevel.Information, Message = "Hosted connection {Name}: started with the host.")]
    public static partial void HostedStarted(ILogger logger, string name);

    [LoggerMessage(EventId = 3, EventName = "HostedStopped", Level = LogLevel.Information, Message = "Hosted connection {Name}: stopped with the host ({Snapshot}).")]
    public static partial void HostedStopped(ILogger logger, string name, string snapshot);

    [LoggerMessage(EventId = 4, EventName = "HostedStopCutShort", Level = LogLevel.Warning, Message = "Hosted connection {Name}: the host's shutdown timeout ran out before the close completed; it completes in the background.")]
    public static partial void HostedStopCutShort(ILogger logger, string name);
}
