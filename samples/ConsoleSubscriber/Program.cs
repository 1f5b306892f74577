using ConsoleSubscriber;
using VenueSimulator.Hosting;

// Ctrl+C and SIGTERM (docker stop, systemd, timeout) both ask for a graceful stop: close handshake
// (1000), summary, exit code (SubscriberApp). A second Ctrl+C ends the process at once. The embedded
// venue's host never sees them: this program owns the process's signals.
using var signals = StopSignals.Register(s =>
    Console.Error.WriteLine($"{StopSignals.Describe(s)}: stopping (close handshake, then the summary; Ctrl+C again to end at once)"));
if (ConsoleSubscriber.FromNats.NatsFeedMode.Wants(args)) return await ConsoleSubscriber.FromNats.NatsFeedMode.RunAsync(args, Console.Out, signals.Token); // issue 22: a feed relayed over NATS
return await SubscriberApp.RunAsync(args, Console.Out, signals.Token, interactive: !Console.IsOutputRedirected, error: Console.Error);
