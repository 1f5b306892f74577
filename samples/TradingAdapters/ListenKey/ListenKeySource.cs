using System.Net;
using System.Net.Http;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Transport;

namespace TradingAdapters.ListenKey;

/// <summary>
/// A Binance-style listen-key source on <see cref="IHttpClientFactory"/>: the user-data stream's URL
/// ends in a key obtained over REST (POST), kept alive by a periodic PUT, and obtained again when the
/// venue refuses it (401) or it expires. It is the transport's <see cref="IEndpointProvider"/>, so
/// every connect attempt, first or reconnect, uses the key current at that moment.
/// </summary>
/// <remarks>
/// <para>Invariants (proved in tests/Samples.Tests/ListenKey):</para>
/// <list type="bullet">
/// <item>ListenKey.K1: each attempt's endpoint ends in the current key; the first attempt obtains one (POST).</item>
/// <item>ListenKey.K2: every <see cref="ListenKeyOptions.KeepAliveInterval"/> of the injected <see cref="TimeProvider"/> a PUT keeps the key alive and extends its life.</item>
/// <item>ListenKey.K3: a key refused with 401 (by the keep-alive PUT, or by the stream's handshake, seen as the attempt's <see cref="EndpointContext.LastError"/>) is dropped and a new one obtained.</item>
/// <item>ListenKey.K4: a key not kept alive within <see cref="ListenKeyOptions.KeyLifetime"/> is expired: a new one is obtained.</item>
/// <item>ListenKey.K5: the key never appears in a log line, <see cref="ToString"/> or an exception message; the endpoint marks it as a sensitive path segment.</item>
/// <item>ListenKey.K6: a failing keep-alive never throws out of the timer; it is reported and the key kept until it expires.</item>
/// </list>
/// <para>
/// When the key is replaced while a socket is open on the old one, <see cref="Changed"/> reports
/// <see cref="ListenKeyEventKind.Replaced"/>: force a reconnect there (see <see cref="ReconnectOnReplace"/>) so the new key is used.
/// The keep-alive PUT sends the key in a form body, not the query, so HTTP client logging never sees it.
/// </para>
/// <para>
/// Called on the actor's path (as an endpoint provider), <see cref="GetEndpointAsync"/> awaits without
/// ConfigureAwait(false) (ADR 0003); the keep-alive loop runs on its own task.
/// </para>
/// </remarks>
public sealed partial class ListenKeySource : IEndpointProvider, IAsyncDisposable
{
    private readonly IHttpClientFactory _http;
    private readonly ListenKeyOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1); // serialises obtain and keep-alive; guards the fields below
    private readonly CancellationTokenSource _stopping = new();
    private readonly PeriodicTimer _timer;
    private readonly Task _keepAlive;
    private string? _key; // guarded by _gate
    private DateTimeOffset _validUntil; // guarded by _gate
    private long _generation; // guarded by _gate (written); read with Volatile

    /// <summary>Creates the source and starts its keep-alive timer.</summary>
    /// <param name="http">Creates the REST client named <see cref="ListenKeyOptions.HttpClientName"/>.</param>
    /// <param name="options">Settings (validated here; copied by reference, do not change them afterwards).</param>
    /// <param name="time">The clock of the keep-alive timer and of key expiry (FakeTimeProvider in tests).</param>
    /// <param name="logger">Where obtain, keep-alive and failures are logged (never the key).</param>
    public ListenKeySource(IHttpClientFactory http, ListenKeyOptions options, TimeProvider? time = null, ILogger<ListenKeySource>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _http = http;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        // Created here, not in the loop: a clock advanced right after construction must not miss a tick.
        _timer = new PeriodicTimer(_options.KeepAliveInterval, _time);
        _keepAlive = Task.Run(() => KeepAliveLoopAsync(_stopping.Token));
    }

    /// <summary>Raised after every key change and keep-alive outcome (on the thread that caused it; keep handlers short).</summary>
    public event Action<ListenKeyEvent>? Changed;

    /// <summary>Keys obtained so far.</summary>
    public long Generation => Volatile.Read(ref _generation);

    /// <summary>Forces a reconnect through <paramref name="trigger"/> whenever the key is replaced under an open socket.</summary>
    /// <param name="trigger">The connection's trigger (<c>connection.Control.Reconnect</c>).</param>
    public void ReconnectOnReplace(ReconnectTrigger trigger)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        Changed += e =>
        {
            if (e.Kind == ListenKeyEventKind.Replaced)
            {
                trigger.ForceReconnect("listen key replaced");
            }
        };
    }

    /// <inheritdoc />
    public async ValueTask<TransportEndpoint> GetEndpointAsync(EndpointContext context, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_key is not null && context.LastError is { HttpStatus: 401 })
            {
                // The stream refused the key it was given: it is dead, whatever our clock says.
                LogRefusedByStream(_logger, _generation);
                Drop(ListenKeyEventKind.RefusedByStream, 401);
            }
            else if (_key is not null && _time.GetUtcNow() >= _validUntil)
            {
                LogExpired(_logger, _generation);
                Drop(ListenKeyEventKind.Expired, null);
            }

            var key = _key ?? await ObtainLockedAsync(replacing: false, cancellationToken);
            return new TransportEndpoint(new Uri(_options.StreamBaseUri!.AbsoluteUri.TrimEnd('/') + "/" + Uri.EscapeDataString(key)), SensitivePathSegments: [-1]);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops the keep-alive timer.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _keepAlive.ConfigureAwait(false);
        _stopping.Dispose();
        _gate.Dispose();
    }

    /// <summary>Describes the source without its key.</summary>
    public override string ToString() =>
        $"ListenKeySource(stream={Redaction.RedactUri(_options.StreamBaseUri!)}, key={(Volatile.Read(ref _key) is null ? "none" : Redaction.Mask)}, generation={Generation})";

    private async Task KeepAliveLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = _timer;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await KeepAliveOnceAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // ListenKey.K6: the timer survives; the key is kept until it expires.
                    LogKeepAliveFailed(_logger, ex is TransportException t ? t.Message : ex.GetType().Name);
                    Raise(new ListenKeyEvent(ListenKeyEventKind.KeepAliveFailed, Generation, (ex as TransportException)?.HttpStatus));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Disposed.
        }
    }

    private async Task KeepAliveOnceAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_key is null)
            {
                return; // nothing to keep alive: the next connect attempt obtains a key
            }

            if (_time.GetUtcNow() >= _validUntil)
            {
                // ListenKey.K4: keep-alives failed for the key's whole life.
                LogExpired(_logger, _generation);
                Drop(ListenKeyEventKind.Expired, null);
                await ObtainLockedAsync(replacing: true, cancellationToken).ConfigureAwait(false);
                return;
            }

            using var request = new HttpRequestMessage(HttpMethod.Put, _options.ListenKeyPath)
            {
                // In the body, not the query: request URIs end up in HTTP client logs.
                Content = new FormUrlEncodedContent([new KeyValuePair<string, string>("listenKey", _key)]),
            };
            request.Headers.TryAddWithoutValidation(_options.ApiKeyHeader, _options.ApiKey());
            using var response = await SendAsync(request, "keep-alive", cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                _validUntil = _time.GetUtcNow() + _options.KeyLifetime;
                LogKeptAlive(_logger, _generation);
                Raise(new ListenKeyEvent(ListenKeyEventKind.KeptAlive, _generation, (int)response.StatusCode));
            }
            else if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                // ListenKey.K3: the venue no longer knows the key.
                LogRefusedByKeepAlive(_logger, _generation);
                Drop(ListenKeyEventKind.RefusedByKeepAlive, 401);
                await ObtainLockedAsync(replacing: true, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                throw Failure("keep-alive", response);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    // Caller holds _gate.
    private async Task<string> ObtainLockedAsync(bool replacing, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _options.ListenKeyPath);
        request.Headers.TryAddWithoutValidation(_options.ApiKeyHeader, _options.ApiKey());
        using var response = await SendAsync(request, "obtain", cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw Failure("obtain", response);
        }

        string? key;
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
            key = json.RootElement.TryGetProperty("listenKey", out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        }
        catch (JsonException ex)
        {
            throw TransportException.Connection("The listen-key answer was not JSON.", ex);
        }

        if (string.IsNullOrEmpty(key))
        {
            throw TransportException.Connection("The listen-key answer carried no listenKey.");
        }

        _key = key;
        _validUntil = _time.GetUtcNow() + _options.KeyLifetime;
        var generation = Interlocked.Increment(ref _generation);
        LogObtained(_logger, generation, _validUntil);
        Raise(new ListenKeyEvent(replacing ? ListenKeyEventKind.Replaced : ListenKeyEventKind.Obtained, generation, (int)response.StatusCode));
        return key;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string what, CancellationToken cancellationToken)
    {
        try
        {
            var client = _http.CreateClient(_options.HttpClientName);
            return await client.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            // The platform message may name the URI: compose our own from the error code.
            throw TransportException.Connection($"The listen-key {what} request failed (HttpRequestError.{ex.HttpRequestError}).", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw TransportException.Timeout($"The listen-key {what} request timed out.", ex);
        }
    }

    private TransportException Failure(string what, HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        var retryAfter = response.Headers.TryGetValues("Retry-After", out var values) ? RetryAfterHeader.Parse(values, _time.GetUtcNow()) : null;
        var message = $"The venue refused the listen-key {what} request with HTTP {status}.";

        // 401/403 on obtain: the API key itself is refused. Auth is Permanent for the default classifier.
        return status is 401 or 403
            ? new TransportException(TransportErrorKind.Auth, message, httpStatus: status, retryAfter: retryAfter)
            : new TransportException(TransportErrorKind.Connection, message, httpStatus: status, retryAfter: retryAfter);
    }

    // Caller holds _gate.
    private void Drop(ListenKeyEventKind why, int? status)
    {
        _key = null;
        Raise(new ListenKeyEvent(why, _generation, status));
    }

    private void Raise(ListenKeyEvent e)
    {
        try
        {
            Changed?.Invoke(e);
        }
        catch (Exception ex)
        {
            // A handler's bug never takes the source (or the connect attempt) down.
            LogHandlerFailed(_logger, ex.GetType().Name);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Listen key {Generation} obtained, valid until {ValidUntil:O}")]
    private static partial void LogObtained(ILogger logger, long generation, DateTimeOffset validUntil);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Listen key {Generation} kept alive")]
    private static partial void LogKeptAlive(ILogger logger, long generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listen key {Generation} was refused by the keep-alive (401); obtaining a new one")]
    private static partial void LogRefusedByKeepAlive(ILogger logger, long generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listen key {Generation} was refused by the stream's handshake (401); obtaining a new one")]
    private static partial void LogRefusedByStream(ILogger logger, long generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listen key {Generation} expired without a successful keep-alive; obtaining a new one")]
    private static partial void LogExpired(ILogger logger, long generation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listen-key keep-alive failed: {Reason}")]
    private static partial void LogKeepAliveFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A ListenKeySource.Changed handler threw {ExceptionType}; ignored")]
    private static partial void LogHandlerFailed(ILogger logger, string exceptionType);
}

/// <summary>What happened to the listen key.</summary>
public enum ListenKeyEventKind
{
    /// <summary>A key was obtained for a connect attempt (there was none).</summary>
    Obtained,

    /// <summary>The keep-alive PUT succeeded; the key's life was extended.</summary>
    KeptAlive,

    /// <summary>The keep-alive PUT failed (not a 401); the key is kept until it expires.</summary>
    KeepAliveFailed,

    /// <summary>The keep-alive PUT was answered 401: the key was dropped.</summary>
    RefusedByKeepAlive,

    /// <summary>The stream's handshake was answered 401: the key was dropped.</summary>
    RefusedByStream,

    /// <summary>The key outlived <see cref="ListenKeyOptions.KeyLifetime"/> without a keep-alive: it was dropped.</summary>
    Expired,

    /// <summary>A new key replaced a dropped one from the keep-alive timer, while a socket may be open on the old one: force a reconnect.</summary>
    Replaced,
}

/// <summary>One listen-key event (never the key itself).</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Generation">The key's generation (1 for the first key obtained).</param>
/// <param name="HttpStatus">The HTTP status involved, if any.</param>
public readonly record struct ListenKeyEvent(ListenKeyEventKind Kind, long Generation, int? HttpStatus);
