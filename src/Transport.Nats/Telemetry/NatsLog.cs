using Microsoft.Extensions.Logging;

namespace Transport.Nats;

// Event ids 400-449: relay and lease; 450-499: consumer. Values are counts, names, kinds and types: never a
// URL with credentials (only redacted ones), never a payload.
internal static partial class NatsLog
{
    [LoggerMessage(EventId = 400, EventName = "NatsRelayStarted", Level = LogLevel.Information, Message = "NATS relay {Relay} for feed {Feed} connected to {Server} (nats-server {Version}); waiting for the lease.")]
    public static partial void RelayStarted(ILogger logger, string relay, string feed, string server, string version);

    [LoggerMessage(EventId = 401, EventName = "NatsLeaseAcquired", Level = LogLevel.Information, Message = "Lease {Key} acquired: generation {Generation} (previous holder {Previous}).")]
    public static partial void LeaseAcquired(ILogger logger, string key, long generation, string previous);

    [LoggerMessage(EventId = 402, EventName = "NatsLeaseExpired", Level = LogLevel.Warning, Message = "Lease {Key} generation {Generation}: no renewal succeeded for {FenceAfter}; fencing (closing the venue connection).")]
    public static partial void LeaseExpired(ILogger logger, string key, long generation, TimeSpan fenceAfter);

    [LoggerMessage(EventId = 403, EventName = "NatsLeaseTakenOver", Level = LogLevel.Warning, Message = "Lease {Key} generation {Generation} was taken over by another relay; fencing.")]
    public static partial void LeaseTakenOver(ILogger logger, string key, long generation);

    [LoggerMessage(EventId = 404, EventName = "NatsLeaseRenewFailed", Level = LogLevel.Debug, Message = "Lease {Key}: renewal failed ({ExceptionType}); retrying.")]
    public static partial void LeaseRenewFailed(ILogger logger, string key, string exceptionType);

    [LoggerMessage(EventId = 405, EventName = "NatsLeaseReadFailed", Level = LogLevel.Debug, Message = "Lease {Key}: read failed ({ExceptionType}); retrying.")]
    public static partial void LeaseReadFailed(ILogger logger, string key, string exceptionType);

    [LoggerMessage(EventId = 406, EventName = "NatsLeaseReleased", Level = LogLevel.Information, Message = "Lease {Key} generation {Generation} released.")]
    public static partial void LeaseReleased(ILogger logger, string key, long generation);

    [LoggerMessage(EventId = 407, EventName = "NatsRelayActive", Level = LogLevel.Information, Message = "NATS relay {Relay} active for feed {Feed}: generation {Generation}, continuing after sequence {Sequence} at epoch {Epoch}.")]
    public static partial void RelayActive(ILogger logger, string relay, string feed, long generation, long sequence, long epoch);

    [LoggerMessage(EventId = 408, EventName = "NatsRelayFenced", Level = LogLevel.Warning, Message = "NATS relay {Relay} fenced on feed {Feed} ({Reason}); its venue connection closed in {Elapsed}.")]
    public static partial void RelayFenced(ILogger logger, string relay, string feed, string reason, TimeSpan elapsed);

    [LoggerMessage(EventId = 409, EventName = "NatsPublishFailed", Level = LogLevel.Warning, Message = "Feed {Feed}: publish failed ({ExceptionType}); frames are kept and retried.")]
    public static partial void PublishFailed(ILogger logger, string feed, string exceptionType);

    [LoggerMessage(EventId = 410, EventName = "NatsPublishRefused", Level = LogLevel.Warning, Message = "Feed {Feed}: JetStream refused a publish ({Reason}); retrying.")]
    public static partial void PublishRefused(ILogger logger, string feed, string reason);

    [LoggerMessage(EventId = 411, EventName = "NatsAckTimeout", Level = LogLevel.Warning, Message = "Feed {Feed}: {Frames} frames not acknowledged in time; publishing them again.")]
    public static partial void AckTimeout(ILogger logger, string feed, int frames);

    [LoggerMessage(EventId = 412, EventName = "NatsFrameTooLarge", Level = LogLevel.Warning, Message = "Feed {Feed}: a {Bytes} B frame exceeds the server's max_payload ({Max} B usable); dropped and counted (raise max_payload for multi-MB snapshots).")]
    public static partial void FrameTooLarge(ILogger logger, string feed, int bytes, long max);

    [LoggerMessage(EventId = 413, EventName = "NatsKeySelectorFailed", Level = LogLevel.Error, Message = "Feed {Feed}: the key selector threw {ExceptionType}; frames it fails on go out under the feed's subject.")]
    public static partial void KeySelectorFailed(ILogger logger, string feed, string exceptionType);

    [LoggerMessage(EventId = 414, EventName = "NatsInputFailed", Level = LogLevel.Error, Message = "Feed {Feed}: the input ended with a {Kind} error.")]
    public static partial void InputFailed(ILogger logger, string feed, string kind);

    [LoggerMessage(EventId = 415, EventName = "NatsInputCloseFailed", Level = LogLevel.Warning, Message = "Feed {Feed}: closing the input threw {ExceptionType}.")]
    public static partial void InputCloseFailed(ILogger logger, string feed, string exceptionType);

    [LoggerMessage(EventId = 416, EventName = "NatsDrainIncomplete", Level = LogLevel.Warning, Message = "Feed {Feed}: {Frames} frames were not acknowledged before the drain bound.")]
    public static partial void DrainIncomplete(ILogger logger, string feed, int frames);

    [LoggerMessage(EventId = 417, EventName = "NatsCloseSlow", Level = LogLevel.Error, Message = "Feed {Feed}: closing the venue connection after the fence took longer than the lease's close margin ({Margin}); two venue connections may have overlapped.")]
    public static partial void CloseSlow(ILogger logger, string feed, TimeSpan margin);

    [LoggerMessage(EventId = 450, EventName = "NatsConsumerStarted", Level = LogLevel.Information, Message = "NATS consumer for feed {Feed} connected to {Server} ({Kind} consumer, starting {Start}).")]
    public static partial void ConsumerStarted(ILogger logger, string feed, string server, string kind, string start);

    [LoggerMessage(EventId = 451, EventName = "NatsConsumerRestarting", Level = LogLevel.Warning, Message = "NATS consumer for feed {Feed}: reading failed ({ExceptionType}); resuming after stream sequence {Position}.")]
    public static partial void ConsumerRestarting(ILogger logger, string feed, string exceptionType, ulong position);

    [LoggerMessage(EventId = 452, EventName = "NatsConsumerGap", Level = LogLevel.Warning, Message = "NATS consumer for feed {Feed}: {Frames} frames missing before relay sequence {Sequence} (counted in TotalLagged).")]
    public static partial void Gap(ILogger logger, string feed, long frames, long sequence);

    [LoggerMessage(EventId = 453, EventName = "NatsConsumerForeign", Level = LogLevel.Warning, Message = "NATS consumer for feed {Feed}: a message without the relay's headers at stream sequence {Sequence} was skipped.")]
    public static partial void Foreign(ILogger logger, string feed, ulong sequence);

    [LoggerMessage(EventId = 454, EventName = "NatsConsumerWatchFailed", Level = LogLevel.Debug, Message = "NATS consumer for feed {Feed}: watching the lifecycle failed ({ExceptionType}); retrying.")]
    public static partial void WatchFailed(ILogger logger, string feed, string exceptionType);

    [LoggerMessage(EventId = 455, EventName = "NatsConsumerAckFailed", Level = LogLevel.Debug, Message = "NATS consumer for feed {Feed}: acknowledging failed ({ExceptionType}); retried with the next one.")]
    public static partial void AckFailed(ILogger logger, string feed, string exceptionType);

    [LoggerMessage(EventId = 456, EventName = "NatsObserverFailed", Level = LogLevel.Warning, Message = "A lifecycle observer threw {ExceptionType}; it was unsubscribed.")]
    public static partial void ObserverFailed(ILogger logger, string exceptionType);
}
