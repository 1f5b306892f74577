using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Initialization;

/// <summary>
/// Log lines of the session initializer, the endpoint choice and the liveness notes (event ids
/// 100-119, reserved for them). Same redaction rule as <c>Telemetry/Log</c>: only strings already
/// made safe, numbers and enums; never a request, a URI or an exception object.
/// </summary>
internal static partial class InitializationLog
{
    [LoggerMessage(EventId = 100, EventName = "InitializerStarted", Level = LogLevel.Debug, Message = "Connection {Name}: session initializer running on epoch {Epoch}.")]
    public static partial void Started(ILogger logger, string name, long epoch);

    [LoggerMessage(EventId = 101, EventName = "InitializerCompleted", Level = LogLevel.Debug, Message = "Connection {Name}: session initializer completed on epoch {Epoch} after {Elapsed}.")]
    public static partial void Completed(ILogger logger, string name, long epoch, TimeSpan elapsed);

    [LoggerMessage(EventId = 102, EventName = "InitializerFailed", Level = LogLevel.Warning, Message = "Connection {Name}: session initializer failed on epoch {Epoch} ({Kind}): {Error}")]
    public static partial void Failed(ILogger logger, string name, long epoch, TransportErrorKind kind, string error);

    [LoggerMessage(EventId = 103, EventName = "InitializerThrew", Level = LogLevel.Warning, Message = "Connection {Name}: session initializer threw {ExceptionType} on epoch {Epoch}; treated as a transient failure.")]
    public static partial void Threw(ILogger logger, string name, long epoch, string exceptionType);

    [LoggerMessage(EventId = 104, EventName = "InitSendFailed", Level = LogLevel.Warning, Message = "Connection {Name}: a frame the session initializer queued without waiting failed on epoch {Epoch} ({Kind}).")]
    public static partial void SendFailed(ILogger logger, string name, long epoch, TransportErrorKind kind);

    [LoggerMessage(EventId = 105, EventName = "FrameMatcherThrew", Level = LogLevel.Warning, Message = "Connection {Name}: a frame matcher threw {ExceptionType} on epoch {Epoch}; its wait fails.")]
    public static partial void MatcherThrew(ILogger logger, string name, long epoch, string exceptionType);

    [LoggerMessage(EventId = 106, EventName = "EndpointProviderThrew", Level = LogLevel.Warning, Message = "Connection {Name}: the endpoint provider threw {ExceptionType} on attempt {Attempt}; the attempt fails (transient).")]
    public static partial void EndpointProviderThrew(ILogger logger, string name, long attempt, string exceptionType);

    [LoggerMessage(EventId = 107, EventName = "DeadAfterNotApplied", Level = LogLevel.Information, Message = "Connection {Name}: Liveness.DeadAfter is not applied on epoch {Epoch}: the leaf ({Capabilities}) cannot see pings or pongs, so silence is not death; the keep-alive timeout is the dead signal.")]
    public static partial void DeadAfterNotApplied(ILogger logger, string name, long epoch, LeafCapabilities capabilities);

    [LoggerMessage(EventId = 108, EventName = "HeldFramesDropped", Level = LogLevel.Warning, Message = "Connection {Name}: {Count} data frames received on epoch {Epoch} before its up-edge were dropped: the socket never went up (its session ended: {Reason}); counted in TotalLagged.")]
    public static partial void HeldFramesDropped(ILogger logger, string name, int count, long epoch, string reason);
}
