using ConsoleSubscriber;

// Ctrl+C asks for a graceful stop (close handshake, summary) instead of killing the process.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
if (ConsoleSubscriber.FromNats.NatsFeedMode.Wants(args)) return await ConsoleSubscriber.FromNats.NatsFeedMode.RunAsync(args, Console.Out, stop.Token); // issue 22: a feed relayed over NATS
return await SubscriberApp.RunAsync(args, Console.Out, stop.Token, interactive: !Console.IsOutputRedirected);
