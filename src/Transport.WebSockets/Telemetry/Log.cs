using Microsoft.Extensions.Logging;

namespace Transport.WebSockets.Telemetry;

/// <summary>
/// Every log line the connection actor writes, as source-generated <see cref="LoggerMessage"/>
/// methods (no boxing or formatting when the level is off).
/// </summary>
/// <remarks>
/// Redaction rule: parameters are strings the caller has already made safe (a
/// <see cref="HandshakeRequest.ToString"/>, <see cref="Redaction.RedactUri"/>, a
/// <see cref="TransportException.ToString"/>), numbers or enums. No method takes a request, a
/// URI or an exception object, because a structured-logging sink may serialize those itself and
/// platform exception messages can echo a credential-bearing URI.
/// </remarks>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, EventName = "Starting", Level = LogLevel.Information, Message = "Connection {Name}: starting to {Endpoint}.")]
    public static partial void Starting(ILogger logger, string name, string endpoint);

    [LoggerMessage(EventId = 2, EventName = "Attempt", Level = LogLevel.Debug, Message = "Connection {Name}: attempt {Attempt} to {Request}.")]
    public static partial void Attempt(ILogger logger, string name, long attempt, string request);

    [LoggerMessage(EventId = 3, EventName = "AttemptFailed", Level = LogLevel.Warning, Message = "Connection {Name}: attempt {Attempt} failed ({Kind}, http={Status}, close={Close}); retrying in {Delay}: {Error}")]
    public static partial void AttemptFailed(ILogger logger, string name, long attempt, TransportErrorKind kind, int? status, int? close, TimeSpan delay, string error);

    [LoggerMessage(EventId = 4, EventName = "Up", Level = LogLevel.Information, Message = "Connection {Name}: {Phase} (epoch {Epoch}, attempts {Attempts}).")]
    public static partial void Up(ILogger logger, string name, ConnectionPhase phase, long epoch, long attempts);

    [LoggerMessage(EventId = 5, EventName = "SessionEnded", Message = "Connection {Name}: epoch {Epoch} ended ({Reason}), reconnecting: {Error}")]
    public static partial void SessionEnded(ILogger logger, LogLevel level, string name, long epoch, string reason, string error);

    [LoggerMessage(EventId = 6, EventName = "Stale", Level = LogLevel.Warning, Message = "Connection {Name}: stale, no frame for {Idle} (epoch {Epoch}).")]
    public static partial void Stale(ILogger logger, string name, TimeSpan idle, long epoch);

    [LoggerMessage(EventId = 7, EventName = "StaleRecovered", Level = LogLevel.Information, Message = "Connection {Name}: frames flowing again, {Phase} (epoch {Epoch}).")]
    public static partial void StaleRecovered(ILogger logger, string name, ConnectionPhase phase, long epoch);

    [LoggerMessage(EventId = 8, EventName = "Unrecoverable", Level = LogLevel.Error, Message = "Connection {Name}: unrecoverable after a permanent failure: {Error}")]
    public static partial void Unrecoverable(ILogger logger, string name, string error);

    [LoggerMessage(EventId = 9, EventName = "Exhausted", Level = LogLevel.Error, Message = "Connection {Name}: gave up after MaxAttempts ({Max}): {Error}")]
    public static partial void Exhausted(ILogger logger, string name, int? max, string error);

    [LoggerMessage(EventId = 10, EventName = "Closed", Level = LogLevel.Information, Message = "Connection {Name}: closed (epoch {Epoch}, attempts {Attempts}, lagged {Lagged}).")]
    public static partial void Closed(ILogger logger, string name, long epoch, long attempts, long lagged);

    [LoggerMessage(EventId = 11, EventName = "ReconnectRequested", Level = LogLevel.Information, Message = "Connection {Name}: reconnect requested ({Reason}).")]
    public static partial void ReconnectRequested(ILogger logger, string name, string reason);

    [LoggerMessage(EventId = 12, EventName = "Lagged", Level = LogLevel.Warning, Message = "Connection {Name}: receive ring full, oldest frames dropped (TotalLagged {Lagged}).")]
    public static partial void Lagged(ILogger logger, string name, long lagged);

    [LoggerMessage(EventId = 13, EventName = "ActorFailed", Level = LogLevel.Critical, Message = "Connection {Name}: the actor failed unexpectedly ({ExceptionType}); ending Unrecoverable. {StackTrace}")]
    public static partial void ActorFailed(ILogger logger, string name, string exceptionType, string? stackTrace);

    [LoggerMessage(EventId = 14, EventName = "CloseIncomplete", Level = LogLevel.Debug, Message = "Connection {Name}: close handshake did not complete ({ExceptionType}).")]
    public static partial void CloseIncomplete(ILogger logger, string name, string exceptionType);

    [LoggerMessage(EventId = 15, EventName = "DisposeFailed", Level = LogLevel.Debug, Message = "Connection {Name}: socket disposal failed ({ExceptionType}).")]
    public static partial void DisposeFailed(ILogger logger, string name, string exceptionType);

    [LoggerMessage(EventId = 16, EventName = "ShuttingDown", Level = LogLevel.Information, Message = "Connection {Name}: shutdown requested.")]
    public static partial void ShuttingDown(ILogger logger, string name);

    // 40-49: the reconnect policy and its user-code boundary (reconnect helper's range).
    [LoggerMessage(EventId = 40, EventName = "ShortSession", Level = LogLevel.Warning, Message = "Connection {Name}: the session lasted {Uptime} (data delivered: {DeliveredData}) and was not healthy (shorter than StableAfter {StableAfter}, and no clean close after data or reached lifetime); counted as consecutive failure {Failures}, next attempt in {Delay}.")]
    public static partial void ShortSession(ILogger logger, string name, TimeSpan uptime, bool deliveredData, TimeSpan stableAfter, int failures, TimeSpan delay);

    [LoggerMessage(EventId = 41, EventName = "ConfigurationError", Level = LogLevel.Error, Message = "Connection {Name}: configuration error (Permanent, logged once): {Error}")]
    public static partial void ConfigurationError(ILogger logger, string name, string error);

    [LoggerMessage(EventId = 42, EventName = "ClassifierFailed", Level = LogLevel.Error, Message = "Connection {Name}: the failure classifier failed ({Problem}); the default classifier decided instead.")]
    public static partial void ClassifierFailed(ILogger logger, string name, string problem);

    [LoggerMessage(EventId = 43, EventName = "ForeignCancellation", Level = LogLevel.Warning, Message = "Connection {Name}: the connect attempt was cancelled by a token that is not the transport's ({ExceptionType}); treated as a transient timeout.")]
    public static partial void ForeignCancellation(ILogger logger, string name, string exceptionType);

    [LoggerMessage(EventId = 44, EventName = "AttemptThrew", Level = LogLevel.Warning, Message = "Connection {Name}: the connect attempt (auth source or leaf) threw {ExceptionType}; treated as transient.")]
    public static partial void AttemptThrew(ILogger logger, string name, string exceptionType);

    [LoggerMessage(EventId = 45, EventName = "LateConnectionDisposed", Level = LogLevel.Warning, Message = "Connection {Name}: a connection arrived after its attempt was abandoned at the connect timeout (the auth source or leaf ignores its token); it was disposed.")]
    public static partial void LateConnectionDisposed(ILogger logger, string name);

    [LoggerMessage(EventId = 46, EventName = "LateAttemptFailed", Level = LogLevel.Debug, Message = "Connection {Name}: an abandoned connect attempt later failed ({ExceptionType}).")]
    public static partial void LateAttemptFailed(ILogger logger, string name, string exceptionType);

    // 60-69: the permessage-deflate fallback (docs/adr/0019).
    [LoggerMessage(EventId = 60, EventName = "CompressionOff", Level = LogLevel.Warning, Message = "Connection {Name}: permessage-deflate failed; compression is off for this connection from now on, every later attempt connects without offering it: {Error}")]
    public static partial void CompressionOff(ILogger logger, string name, string error);
}
