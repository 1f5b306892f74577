using Transport;

namespace TradingAdapters.Protocol;

/// <summary>
/// A session initializer for one leg of a redundant connection: on every new socket it subscribes the topics
/// in one request and waits for the venue's <c>subscribed</c> reply, so the leg is up only once the venue is
/// sending it ticks. A leg that is up therefore carries the feed, which is what lets another leg be cut or
/// rotated without a gap.
/// </summary>
/// <param name="topics">The topics to subscribe.</param>
/// <param name="replyTimeout">How long to wait for the reply before the attempt fails (and is retried).</param>
public sealed class SubscribeOnEachSocket(IReadOnlyList<string> topics, TimeSpan replyTimeout) : ISessionInitializer
{
    private long _id;

    /// <inheritdoc />
    public async ValueTask InitializeAsync(ISessionContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        long id = Interlocked.Increment(ref _id);
        // Waiting starts before the request is sent, so a fast reply cannot be missed.
        var reply = context.WaitForFrameAsync(f => VenueMessage.Parse(f) is { Type: "subscribed", Id: { } got } && got == id, replyTimeout, cancellationToken);
        await context.Sink.SendAsync(VenueCommands.Subscribe(topics, id), cancellationToken).ConfigureAwait(false);
        await reply.ConfigureAwait(false);
    }
}
