using System.Globalization;
using Microsoft.Extensions.Logging;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;

namespace Transport.Nats;

/// <summary>Opening the NATS connection, checking the server, and preparing a feed's stream and bucket.</summary>
internal static class NatsBus
{
    /// <summary>The oldest server this package supports: KV revision compare-and-set, JetStream headers and de-duplication, stream message get.</summary>
    public static readonly Version MinimumServer = new(2, 9, 0);

    /// <summary>Checks the server a connection reached (Bus.V1).</summary>
    /// <exception cref="TransportException">Kind Configuration: too old, or JetStream is off. The message names the server (redacted) and what to do.</exception>
    public static void CheckServer(string? version, bool jetStream, bool headers, string server)
    {
        if (!TryParseVersion(version, out var parsed))
        {
            throw new TransportException(TransportErrorKind.Configuration, $"NATS server at {server} reported no readable version ('{version}'); this relay needs nats-server {MinimumServer} or later.");
        }

        if (parsed < MinimumServer)
        {
            throw new TransportException(TransportErrorKind.Configuration, $"NATS server at {server} is version {version}, older than {MinimumServer}, the oldest this relay supports (it needs KV revision compare-and-set and JetStream message headers). Upgrade nats-server.");
        }

        if (!jetStream)
        {
            throw new TransportException(TransportErrorKind.Configuration, $"NATS server at {server} (version {version}) does not have JetStream enabled; start it with -js (nats-server -js -sd <store dir>) or enable jetstream in its configuration.");
        }

        if (!headers)
        {
            throw new TransportException(TransportErrorKind.Configuration, $"NATS server at {server} (version {version}) does not support message headers; the relay carries epoch, sequence and lag in headers.");
        }
    }

    internal static bool TryParseVersion(string? version, out Version parsed)
    {
        parsed = new Version(0, 0);
        if (string.IsNullOrWhiteSpace(version))
        {
            return false;
        }

        var core = version.Trim().TrimStart('v').Split('-', '+')[0];
        var parts = core.Split('.');
        if (parts.Length is < 2 or > 3)
        {
            return false;
        }

        var numbers = new int[3];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i]))
            {
                return false;
            }
        }

        parsed = new Version(numbers[0], numbers[1], numbers[2]);
        return true;
    }

    /// <summary>Connects (one bounded attempt; NATS.Net then reconnects by itself forever) and checks the server.</summary>
    /// <exception cref="TransportException">The server cannot be reached (Connection), or fails the check (Configuration).</exception>
    public static async Task<NatsConnection> ConnectAsync(NatsConnectionOptions options, string clientName, ILoggerFactory? loggerFactory, CancellationToken cancellationToken)
    {
        var connection = new NatsConnection(options.ToNatsOpts(clientName, loggerFactory));
        try
        {
            await connection.ConnectAsync().AsTask().WaitAsync(options.ConnectTimeout + options.ConnectTimeout, cancellationToken).ConfigureAwait(false);
            var info = connection.ServerInfo;
            CheckServer(info?.Version, info?.JetStreamAvailable ?? false, info?.HeadersSupported ?? false, options.RedactedUrl);
            return connection;
        }
        catch (Exception ex) when (ex is not TransportException)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            // NATS.Net's messages can echo the URL with its user info: name the type only.
            throw new TransportException(TransportErrorKind.Connection, $"Could not connect to NATS at {options.RedactedUrl} ({ex.GetType().Name}).", inner: ex);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Creates the feed's stream when absent; an existing one must carry the feed's subjects.</summary>
    /// <exception cref="TransportException">Kind Configuration: the stream exists with other subjects.</exception>
    public static Task<INatsJSStream> EnsureStreamAsync(INatsJSContext js, NatsFeedLayout layout, NatsStreamSettings settings, TimeProvider time, CancellationToken cancellationToken) =>
        RetryAsync(() => EnsureStreamOnceAsync(js, layout, settings, cancellationToken), time, cancellationToken);

    private static async Task<INatsJSStream> EnsureStreamOnceAsync(INatsJSContext js, NatsFeedLayout layout, NatsStreamSettings settings, CancellationToken cancellationToken)
    {
        try
        {
            var existing = await js.GetStreamAsync(layout.StreamName, cancellationToken: cancellationToken).ConfigureAwait(false);
            var subjects = existing.Info.Config.Subjects ?? [];
            if (!layout.StreamSubjects.All(subjects.Contains))
            {
                throw new TransportException(TransportErrorKind.Configuration, $"JetStream stream {layout.StreamName} exists with subjects [{string.Join(", ", subjects)}], not the feed's [{string.Join(", ", layout.StreamSubjects)}]; use another StreamName or SubjectPrefix.");
            }

            return existing;
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            var config = new StreamConfig(layout.StreamName, [.. layout.StreamSubjects])
            {
                Description = $"Transport relay frames of feed {layout.Feed}",
                Storage = settings.InMemory ? StreamConfigStorage.Memory : StreamConfigStorage.File,
                MaxAge = settings.MaxAge,
                MaxBytes = settings.MaxBytes,
                Discard = StreamConfigDiscard.Old,
                DuplicateWindow = settings.DuplicateWindow,
                NumReplicas = settings.Replicas,
                Retention = StreamConfigRetention.Limits,
                AllowDirect = true,
            };
            try
            {
                return await js.CreateStreamAsync(config, cancellationToken).ConfigureAwait(false);
            }
            catch (NatsJSApiException raced) when (raced.Error.ErrCode == 10058)
            {
                // Another relay created it meanwhile (stream name already in use).
                return await js.GetStreamAsync(layout.StreamName, cancellationToken: cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Opens the bucket, creating it (history 1, file storage) when absent; a busy server's missing API reply is retried.</summary>
    public static Task<INatsKVStore> EnsureBucketAsync(INatsKVContext kv, string bucket, TimeProvider time, CancellationToken cancellationToken) =>
        RetryAsync(() => EnsureBucketOnceAsync(kv, bucket, cancellationToken), time, cancellationToken);

    /// <summary>
    /// Runs a JetStream API call up to three times when the server did not answer in time (NatsJSApiNoResponseException:
    /// a busy or restarting server); any other failure is the caller's.
    /// </summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> call, TimeProvider time, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call().ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < 3 && ex is NatsJSApiNoResponseException or NatsNoRespondersException or NatsJSTimeoutException && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task<INatsKVStore> EnsureBucketOnceAsync(INatsKVContext kv, string bucket, CancellationToken cancellationToken)
    {
        try
        {
            return await kv.GetStoreAsync(bucket, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsKVException)
        {
            // Not there yet.
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // Not there yet.
        }

        try
        {
            return await kv.CreateStoreAsync(new NatsKVConfig(bucket) { History = 1, Storage = NatsKVStorageType.File, Description = "Transport relay lifecycles and leases" }, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException)
        {
            // Created by another process meanwhile, with our configuration or its own: use it.
            return await kv.GetStoreAsync(bucket, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True for the failures a reconnect heals (the server is down or unreachable, a request timed out).</summary>
    public static bool IsTransient(Exception ex) =>
        ex is NatsException or TimeoutException or OperationCanceledException or IOException or System.Net.Sockets.SocketException;
}
