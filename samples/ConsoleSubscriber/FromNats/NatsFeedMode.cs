using System.Globalization;
using System.Text.Json;
using Transport;
using Transport.Nats;

namespace ConsoleSubscriber.FromNats;

/// <summary>
/// <c>--from-nats URL</c>: reads a feed the gateway (samples/Relay) publishes to NATS JetStream, through the same
/// contract as a venue connection (<see cref="NatsFeedConsumer.AsConnection"/>): phase, epoch, frames/s, lag.
/// </summary>
/// <remarks>
/// One line per event (it is a log, not a live table): <c>LIFECYCLE ...</c> on every lifecycle change,
/// <c>STATUS ...</c> every second, <c>FRAME stream relay generation epoch topic:seq</c> per frame with <c>--frames</c>,
/// <c>SUMMARY ...</c> at the end. Exit codes as the subscriber's: 0 ok, 2 usage, 3 NATS unreachable or unsuitable.
/// </remarks>
public static class NatsFeedMode
{
    public const string Usage = """
        Usage: ConsoleSubscriber --from-nats nats://HOST:PORT [options]
          --feed NAME            the feed the relay publishes (default sim)
          --durable NAME         a durable consumer (JetStream keeps the position); default: an ordered consumer
          --position-file PATH   an ordered consumer resumes after the position stored there, and stores it as it reads
          --frames               print one FRAME line per frame
          --count N              exit after N frames
          --duration SECONDS     exit after this long
          --ring N               the receive ring's frame bound (default 100000)
        """;

    /// <summary>True when the arguments ask for this mode.</summary>
    public static bool Wants(IReadOnlyList<string> args) => args.Contains("--from-nats");

    /// <summary>Runs the mode until the count, the duration or <paramref name="cancellationToken"/>.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, CancellationToken cancellationToken)
    {
        var log = TextWriter.Synchronized(output);
        if (!TryParse(args, out var settings, out var error))
        {
            log.WriteLine(error);
            return SubscriberApp.ExitUsage;
        }

        if (settings.PositionFile is { } file && File.Exists(file))
        {
            settings.Options.StartAfter = (await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false)).Trim();
        }

        NatsFeedConsumer consumer;
        try
        {
            settings.Options.Validate();
            consumer = await NatsFeedConsumer.StartAsync(settings.Options, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (ArgumentException ex)
        {
            log.WriteLine("error: " + ex.Message);
            return SubscriberApp.ExitUsage;
        }
        catch (TransportException ex)
        {
            log.WriteLine($"error: {ex.Kind}: {ex.Message}");
            return SubscriberApp.ExitNeverConnected;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (settings.Duration is { } duration)
        {
            stop.CancelAfter(duration);
        }

        log.WriteLine($"reading feed {settings.Options.Feed} from {settings.Options.Nats.RedactedUrl} ({settings.Options.Kind}, after {settings.Options.StartAfter ?? "the start"})");
        var connection = consumer.AsConnection();
        using var watch = connection.Lifecycle.Subscribe(new LineObserver(log));
        long frames = 0;
        long lastCount = 0;
        long nextStatus = Environment.TickCount64 + 1000;
        try
        {
            var source = connection.Source;
            while ((settings.Count is null || frames < settings.Count) && await source.WaitToReadAsync(stop.Token).ConfigureAwait(false))
            {
                int sinceStored = 0;
                while ((settings.Count is null || frames < settings.Count) && source.TryRead(out var frame))
                {
                    frames++;
                    if (settings.Frames)
                    {
                        // The position right after a read is that frame's: stream:relay:generation.
                        log.WriteLine($"FRAME {consumer.Position} epoch={frame.Epoch} {Describe(frame)}");
                    }

                    if (++sinceStored == 50)
                    {
                        // A backlog can keep this loop busy for long: store the position every 50 frames too.
                        sinceStored = 0;
                        await StoreAsync(settings.PositionFile, consumer.Position).ConfigureAwait(false);
                    }
                }

                var position = consumer.Position;
                await StoreAsync(settings.PositionFile, position).ConfigureAwait(false);

                if (Environment.TickCount64 >= nextStatus)
                {
                    nextStatus = Environment.TickCount64 + 1000;
                    var s = connection.Lifecycle.Current;
                    log.WriteLine($"STATUS {s.Phase} epoch={s.Epoch} frames={frames} rate={frames - lastCount}/s lagged={s.TotalLagged} position={position}");
                    lastCount = frames;
                }

                log.Flush();
            }
        }
        catch (OperationCanceledException)
        {
            // The duration, Ctrl+C or SIGTERM.
        }

        var stats = consumer.Stats;
        var final = consumer.Position;
        await consumer.DisposeAsync().ConfigureAwait(false);
        log.WriteLine($"SUMMARY frames={frames} delivered={stats.Delivered} gaps={stats.GapFrames} duplicates={stats.Duplicates} evicted={stats.Evicted} lagged={stats.TotalLagged} position={final}");
        log.Flush();
        return SubscriberApp.ExitOk;
    }

    // Atomically (write, then rename): a kill mid-write leaves the previous position, never half of one.
    private static async Task StoreAsync(string? path, FeedPosition position)
    {
        if (path is null)
        {
            return;
        }

        var temp = path + ".tmp";
        await File.WriteAllTextAsync(temp, position.ToString(), CancellationToken.None).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }

    // "topic:seq" of a simulator tick, or the kind and size.
    private static string Describe(Frame frame)
    {
        if (frame.Kind == FrameKind.Text)
        {
            try
            {
                using var json = JsonDocument.Parse(frame.Payload);
                var root = json.RootElement;
                if (root.TryGetProperty("topic", out var topic) && root.TryGetProperty("seq", out var seq))
                {
                    return $"{topic.GetString()}:{seq.GetInt64()}";
                }
            }
            catch (JsonException)
            {
            }
        }

        return frame.ToString();
    }

    private sealed record Settings(NatsFeedOptions Options, string? PositionFile, bool Frames, long? Count, TimeSpan? Duration);

    private static bool TryParse(IReadOnlyList<string> args, out Settings settings, out string? error)
    {
        var options = new NatsFeedOptions { Feed = "sim" };
        string? positionFile = null;
        bool frames = false;
        long? count = null;
        TimeSpan? duration = null;
        settings = new Settings(options, null, false, null, null);
        error = null;
        for (int i = 0; i < args.Count; i++)
        {
            var flag = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException($"{flag} needs a value");
            long Long() => long.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw new FormatException($"{flag} needs a positive whole number");
            try
            {
                switch (flag)
                {
                    case "--from-nats": options.Nats.Url = Value(); break;
                    case "--feed": options.Feed = Value(); break;
                    case "--durable":
                        options.Kind = NatsConsumerKind.Durable;
                        options.DurableName = Value();
                        break;
                    case "--position-file": positionFile = Value(); break;
                    case "--frames": frames = true; break;
                    case "--count": count = Long(); break;
                    case "--duration": duration = TimeSpan.FromSeconds(Long()); break;
                    case "--ring": options.RingCapacityFrames = (int)Math.Min(int.MaxValue, Long()); break;
                    case "--plain": break;
                    case "--help" or "-h":
                        error = Usage;
                        return false;
                    default:
                        error = $"error: unknown option {flag} in --from-nats mode\n{Usage}";
                        return false;
                }
            }
            catch (FormatException ex)
            {
                error = "error: " + ex.Message;
                return false;
            }
        }

        settings = new Settings(options, positionFile, frames, count, duration);
        return true;
    }

    private sealed class LineObserver(TextWriter log) : IObserver<LifecycleSnapshot>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(LifecycleSnapshot value)
        {
            log.WriteLine($"LIFECYCLE {value}");
            log.Flush();
        }
    }
}
