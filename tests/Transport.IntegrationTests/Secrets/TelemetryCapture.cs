using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Transport.IntegrationTests.Secrets;

/// <summary>
/// Everything a process exports about its own work, scanned for the run's secrets as it happens:
/// <list type="bullet">
/// <item>logs of every category at every level (Trace included): message, structured state, exception,
/// and every scope's state (<see cref="Logs"/>, to add to a logger factory);</item>
/// <item>every <see cref="ActivitySource"/> (an <see cref="ActivityListener"/> that samples everything):
/// operation and display names, tags, events and their tags, links, baggage, status description, at
/// start and at stop;</item>
/// <item>every <see cref="DiagnosticListener"/> event payload (what the older HTTP instrumentations read);</item>
/// <item>every <see cref="Meter"/> instrument (a <see cref="MeterListener"/>): names, tags of every
/// measurement, observable instruments included.</item>
/// </list>
/// The loopback server runs in this process: its own telemetry (sources, listeners and meters named
/// <c>Microsoft.AspNetCore*</c>, the venue's side, which legitimately sees what was sent) is counted, not
/// scanned. A server-side activity must be <see cref="ActivityKind.Server"/>, or it is scanned too.
/// </summary>
internal sealed class TelemetryCapture : IDisposable
{
    private const string ServerSide = "Microsoft.AspNetCore";

    private readonly ActivityListener _activities;
    private readonly MeterListener _meters;
    private readonly IDisposable _diagnostics;
    private readonly ConcurrentBag<IDisposable> _diagnosticSubscriptions = [];
    private readonly ConcurrentDictionary<string, int> _seen = new(StringComparer.Ordinal);

    public TelemetryCapture(SecretSet secrets)
    {
        Scanner = new SecretScanner(secrets);
        Logs = new ScanningLoggerProvider(this);

        _activities = new ActivityListener
        {
            ShouldListenTo = _ => true,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            SampleUsingParentId = (ref ActivityCreationOptions<string> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = a => ScanActivity(a, "start"),
            ActivityStopped = a => ScanActivity(a, "stop"),
        };
        ActivitySource.AddActivityListener(_activities);

        _meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                Count("instrument " + instrument.Meter.Name);
                var where = $"meter {instrument.Meter.Name} instrument {instrument.Name}";
                Scanner.ScanText(where + " name", instrument.Name);
                Scanner.ScanText(where + " description", instrument.Description);
                Scanner.Scan(where + " tags", instrument.Tags);
                Scanner.Scan(where + " meter tags", instrument.Meter.Tags);
                listener.EnableMeasurementEvents(instrument);
            },
        };
        _meters.SetMeasurementEventCallback<byte>((i, _, tags, _) => ScanMeasurement(i, tags));
        _meters.SetMeasurementEventCallback<short>((i, _, tags, _) => ScanMeasurement(i, tags));
        _meters.SetMeasurementEventCallback<int>((i, _, tags, _) => ScanMeasurement(i, tags));
        _meters.SetMeasurementEventCallback<long>((i, _, tags, _) => ScanMeasurement(i, tags));
        _meters.SetMeasurementEventCallback<float>((i, _, tags, _) => ScanMeasurement(i, tags));
        _meters.SetMeasurementEventCallback<double>((i, _, tags, _) => ScanMeasurement(i, tags));
        _meters.SetMeasurementEventCallback<decimal>((i, _, tags, _) => ScanMeasurement(i, tags));
        _meters.Start();

        _diagnostics = DiagnosticListener.AllListeners.Subscribe(new Observer<DiagnosticListener>(listener =>
        {
            if (listener.Name.StartsWith(ServerSide, StringComparison.Ordinal))
            {
                return;
            }

            _diagnosticSubscriptions.Add(listener.Subscribe(
                new Observer<KeyValuePair<string, object?>>(e =>
                {
                    Count("diagnostic " + listener.Name);
                    Scanner.ScanText($"diagnostic listener {listener.Name} event name", e.Key);
                    Scanner.Scan($"diagnostic listener {listener.Name} event {e.Key} payload", e.Value);
                }),
                static (_, _, _) => true));
        }));
    }

    public SecretScanner Scanner { get; }

    /// <summary>Add to a logger factory (or a host's logging) with the minimum level at Trace.</summary>
    public ILoggerProvider Logs { get; }

    /// <summary>What was seen, by kind and origin ("log Transport.WebSockets.Connection.feed", "activity System.Net.Http", ...).</summary>
    public IReadOnlyDictionary<string, int> Seen => _seen;

    /// <summary>Reports the observable instruments now (gauges, up-down counters), so their tags are scanned too.</summary>
    public void RecordObservableInstruments() => _meters.RecordObservableInstruments();

    public void Dispose()
    {
        _meters.Dispose();
        _activities.Dispose();
        _diagnostics.Dispose();
        foreach (var subscription in _diagnosticSubscriptions)
        {
            subscription.Dispose();
        }
    }

    private void Count(string what) => _seen.AddOrUpdate(what, 1, static (_, n) => n + 1);

    private void ScanMeasurement(Instrument instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        Count("measurement " + instrument.Meter.Name);
        if (instrument.Meter.Name.StartsWith(ServerSide, StringComparison.Ordinal))
        {
            return;
        }

        Scanner.Scan($"meter {instrument.Meter.Name} instrument {instrument.Name} measurement tags", tags.ToArray());
    }

    private void ScanActivity(Activity activity, string when)
    {
        var source = activity.Source.Name;
        if (source.StartsWith(ServerSide, StringComparison.Ordinal) && activity.Kind == ActivityKind.Server)
        {
            Count("server-side activity " + source);
            return;
        }

        Count($"activity {(source.Length == 0 ? "(no source)" : source)} {activity.OperationName}");
        var where = $"activity {source}/{activity.OperationName} at {when}";
        Scanner.ScanText(where + " operation name", activity.OperationName);
        Scanner.ScanText(where + " display name", activity.DisplayName);
        Scanner.ScanText(where + " status description", activity.StatusDescription);
        Scanner.ScanText(where + " trace state", activity.TraceStateString);
        Scanner.Scan(where + " tags", activity.TagObjects.ToArray());
        Scanner.Scan(where + " baggage", activity.Baggage.ToArray());
        foreach (var e in activity.Events)
        {
            Scanner.ScanText($"{where} event name", e.Name);
            Scanner.Scan($"{where} event {e.Name} tags", e.Tags.ToArray());
        }

        foreach (var link in activity.Links)
        {
            Scanner.Scan($"{where} link tags", link.Tags?.ToArray());
        }
    }

    private sealed class Observer<T>(Action<T> next) : IObserver<T>
    {
        public void OnCompleted()
        {
        }

        public void OnError(Exception error)
        {
        }

        public void OnNext(T value) => next(value);
    }

    /// <summary>Every logger of every category, always enabled; scopes are scanned when they begin.</summary>
    private sealed class ScanningLoggerProvider(TelemetryCapture capture) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ScanningLogger(categoryName, capture);

        public void Dispose()
        {
        }
    }

    private sealed class ScanningLogger(string category, TelemetryCapture capture) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull
        {
            capture.Count("scope " + category);
            capture.Scanner.Scan($"log {category} scope", state);
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            capture.Count("log " + category);
            var where = $"log {category} {logLevel} event {eventId.Id} {eventId.Name}";
            capture.Scanner.ScanText(where + " message", formatter(state, exception));
            capture.Scanner.Scan(where + " state", state);
            capture.Scanner.Scan(where + " exception", exception);
        }
    }
}
