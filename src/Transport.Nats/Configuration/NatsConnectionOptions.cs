using Microsoft.Extensions.Logging;
using NATS.Client.Core;

namespace Transport.Nats;

/// <summary>How TLS is used on the NATS connection (NATS.Net's <c>TlsMode</c>, bindable by name).</summary>
public enum NatsTlsMode
{
    /// <summary>TLS when the URL is <c>tls://</c> or the server requires it (NATS.Net's default).</summary>
    Auto,

    /// <summary>TLS when the server offers it, plain otherwise.</summary>
    Prefer,

    /// <summary>TLS always, after the server's INFO.</summary>
    Require,

    /// <summary>TLS from the first byte (a TLS-terminating proxy in front of the server).</summary>
    Implicit,

    /// <summary>No TLS, even when the server offers it.</summary>
    Disable,
}

/// <summary>TLS settings of the NATS connection: the trust and the client certificate, as files.</summary>
public sealed class NatsTlsOptions
{
    /// <summary>When TLS is used (default <see cref="NatsTlsMode.Auto"/>).</summary>
    public NatsTlsMode Mode { get; set; } = NatsTlsMode.Auto;

    /// <summary>A PEM file of the CA certificates to trust instead of the system store; null: the system store.</summary>
    public string? CaFile { get; set; }

    /// <summary>The client certificate (PEM) for mutual TLS; null: none.</summary>
    public string? CertFile { get; set; }

    /// <summary>The client certificate's private key (PEM); required with <see cref="CertFile"/>.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Skips server certificate validation. For tests only; never in production.</summary>
    public bool InsecureSkipVerify { get; set; }
}

/// <summary>
/// The NATS connection the relay or a consumer opens: the URL, the credentials and TLS, the options a
/// NATS user already knows, bindable from configuration (a section such as
/// <c>"Nats": { "Url": "nats://nats:4222", "CredsFile": "/run/secrets/relay.creds", "Tls": { "Mode": "Require" } }</c>).
/// </summary>
/// <remarks>
/// Credentials stay in this object: <see cref="ToString"/>, every log line, error message, header and
/// KV value the package writes show only the redacted URL (<see cref="Redaction.RedactUri"/>) and which
/// kind of credential is set, never its value.
/// </remarks>
public sealed class NatsConnectionOptions
{
    /// <summary>The server URL, or several separated by commas (<c>nats://host:4222</c>, <c>tls://host:4222</c>). Default <c>nats://127.0.0.1:4222</c>.</summary>
    public string Url { get; set; } = "nats://127.0.0.1:4222";

    /// <summary>The client name the server shows (monitoring, <c>nats server report connections</c>); null: the package picks one.</summary>
    public string? Name { get; set; }

    /// <summary>User name (with <see cref="Password"/>); null: none.</summary>
    public string? Username { get; set; }

    /// <summary>Password (with <see cref="Username"/>); null: none. Never logged.</summary>
    public string? Password { get; set; }

    /// <summary>Authentication token; null: none. Never logged.</summary>
    public string? Token { get; set; }

    /// <summary>A <c>.creds</c> file (JWT and NKey seed, as <c>nsc</c> writes it); null: none.</summary>
    public string? CredsFile { get; set; }

    /// <summary>An NKey seed file; null: none.</summary>
    public string? NKeyFile { get; set; }

    /// <summary>TLS settings.</summary>
    public NatsTlsOptions Tls { get; set; } = new();

    /// <summary>Bound of one connect attempt (default 5 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Bound of one request to the server: a JetStream API call, a KV read or write (default 5 s).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Shortest wait before a reconnect attempt (default 100 ms); NATS.Net doubles it up to <see cref="ReconnectWaitMax"/>, with jitter.</summary>
    public TimeSpan ReconnectWaitMin { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest wait between reconnect attempts (default 2 s). The client reconnects forever.</summary>
    public TimeSpan ReconnectWaitMax { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The first URL, redacted: safe to log.</summary>
    public string RedactedUrl => RedactUrls(Url);

    /// <summary>Checks the options.</summary>
    /// <param name="owner">Prefix for messages (for example <c>NATS relay 'binance'</c>).</param>
    /// <exception cref="ArgumentException">A field is invalid; the message names it (never its value when it is a credential).</exception>
    public void Validate(string owner)
    {
        if (string.IsNullOrWhiteSpace(Url))
        {
            throw new ArgumentException($"{owner}: Nats.Url: required (for example nats://127.0.0.1:4222).", nameof(Url));
        }

        foreach (var part in Url.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part.Contains("://", StringComparison.Ordinal) ? part : "nats://" + part, UriKind.Absolute, out var uri)
                || uri.Scheme is not ("nats" or "tls" or "ws" or "wss"))
            {
                throw new ArgumentException($"{owner}: Nats.Url: '{RedactUrls(part)}' is not a nats://, tls://, ws:// or wss:// URL.", nameof(Url));
            }
        }

        if ((Username is null) != (Password is null))
        {
            throw new ArgumentException($"{owner}: Nats.Username and Nats.Password: set both or neither.", nameof(Username));
        }

        if (Tls.CertFile is null != Tls.KeyFile is null)
        {
            throw new ArgumentException($"{owner}: Nats.Tls.CertFile and Nats.Tls.KeyFile: set both or neither.", nameof(Tls));
        }

        Positive(ConnectTimeout, "Nats.ConnectTimeout");
        Positive(RequestTimeout, "Nats.RequestTimeout");
        Positive(ReconnectWaitMin, "Nats.ReconnectWaitMin");
        if (ReconnectWaitMax < ReconnectWaitMin)
        {
            throw new ArgumentException($"{owner}: Nats.ReconnectWaitMax: must be >= Nats.ReconnectWaitMin ({ReconnectWaitMin}).", nameof(ReconnectWaitMax));
        }

        void Positive(TimeSpan value, string field)
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentException($"{owner}: {field}: must be positive (was {value}).", field);
            }
        }
    }

    /// <summary>The NATS.Net options these settings make.</summary>
    /// <param name="clientName">The client name when <see cref="Name"/> is not set.</param>
    /// <param name="loggerFactory">Where NATS.Net logs.</param>
    /// <returns>Options for a <see cref="NatsConnection"/>.</returns>
    public NatsOpts ToNatsOpts(string clientName, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(clientName);
        var defaults = NatsOpts.Default;
        return defaults with
        {
            Url = Url,
            Name = Name ?? clientName,
            AuthOpts = NatsAuthOpts.Default with
            {
                Username = Username,
                Password = Password,
                Token = Token,
                CredsFile = CredsFile,
                NKeyFile = NKeyFile,
            },
            TlsOpts = NatsTlsOpts.Default with
            {
                Mode = Tls.Mode switch
                {
                    NatsTlsMode.Prefer => TlsMode.Prefer,
                    NatsTlsMode.Require => TlsMode.Require,
                    NatsTlsMode.Implicit => TlsMode.Implicit,
                    NatsTlsMode.Disable => TlsMode.Disable,
                    _ => TlsMode.Auto,
                },
                CaFile = Tls.CaFile,
                CertFile = Tls.CertFile,
                KeyFile = Tls.KeyFile,
                InsecureSkipVerify = Tls.InsecureSkipVerify,
            },
            ConnectTimeout = ConnectTimeout,
            RequestTimeout = RequestTimeout,
            CommandTimeout = RequestTimeout,
            ReconnectWaitMin = ReconnectWaitMin,
            ReconnectWaitMax = ReconnectWaitMax,
            MaxReconnectRetry = -1,
            RetryOnInitialConnect = false,

            // A publish while disconnected fails after CommandTimeout instead of waiting for the
            // reconnect: the relay then buffers it, bounded and counted (Relay.R4).
            PublishTimeoutOnDisconnected = true,
            LoggerFactory = loggerFactory ?? defaults.LoggerFactory,
        };
    }

    /// <summary>Describes the connection without any credential.</summary>
    public override string ToString()
    {
        var auth = new List<string>();
        if (Username is not null)
        {
            auth.Add("user/password");
        }

        if (Token is not null)
        {
            auth.Add("token");
        }

        if (CredsFile is not null)
        {
            auth.Add("creds file");
        }

        if (NKeyFile is not null)
        {
            auth.Add("nkey file");
        }

        return $"{RedactedUrl} (auth: {(auth.Count == 0 ? "none" : string.Join(", ", auth))}, tls: {Tls.Mode})";
    }

    internal static string RedactUrls(string urls) =>
        string.Join(",", urls.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(RedactOne));

    private static string RedactOne(string url)
    {
        var candidate = url.Contains("://", StringComparison.Ordinal) ? url : "nats://" + url;
        return Uri.TryCreate(candidate, UriKind.Absolute, out var uri) ? Redaction.RedactUri(uri) : Redaction.Mask;
    }
}
