// The prelude every ```csharp block of README.md is compiled with (ReadmeSnippetTests).
// It is NOT compiled into the test project: the test reads it as text and compiles it next to each
// snippet, against the built assemblies. It supplies:
//   1. the usings a reader needs (the namespaces below);
//   2. the few names the snippets use without defining them, each one a stand-in for the reader's own
//      code: venueUri (the venue's endpoint), ct (the app's stopping token), tokens (where the current
//      credential lives), risk (the risk loop), Handle(frame) (the app's frame handler), builder (the
//      host builder of the hosting snippets), ListenKeyStore / ListenKeyAuth / HandshakeAuditHandler,
//      Tick and TickJson (a message type and its JSON metadata).
// When the test runs the first example against the simulator it sets venueUri and ct, and reads
// what Handle received.
global using System;
global using System.Collections.Generic;
global using System.IO;
global using System.Linq;
global using System.Net;
global using System.Net.Http;
global using System.Threading;
global using System.Threading.Tasks;
global using Microsoft.AspNetCore.Builder;
global using Microsoft.Extensions.DependencyInjection;
global using Microsoft.Extensions.Hosting;
global using Transport;
global using Transport.Mock;
global using Transport.WebSockets;
global using Transport.WebSockets.FanOut;
global using Transport.WebSockets.Legs;
global using Transport.WebSockets.Pool;
global using Xunit;
global using static ReadmePrelude.Names;

namespace ReadmePrelude
{
/// <summary>The names README snippets use without defining them.</summary>
public static class Names
{
    /// <summary>The venue's endpoint (the test points it at the simulator).</summary>
    public static Uri venueUri { get; set; } = new("ws://127.0.0.1:5000/ws");

    /// <summary>A Binance-style listen key (a credential in the URI path; the README marks that segment sensitive).</summary>
    public static string listenKey { get; set; } = "example-listen-key";

    /// <summary>The adapter's last processed sequence number (a resume cursor).</summary>
    public static long lastSeq { get; set; }

    /// <summary>An open connection, as the first example makes it (snippets after it use it; compiled, not run).</summary>
    public static ReconnectingConnection conn { get; set; } = null!;

    /// <summary>A venue message's source-generated metadata (in an app: <c>MyJsonContext.Default.Tick</c>).</summary>
    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<Tick> TickJson { get; } =
        (System.Text.Json.Serialization.Metadata.JsonTypeInfo<Tick>)System.Text.Json.JsonSerializerOptions.Default.GetTypeInfo(typeof(Tick));

    /// <summary>The application's stopping token.</summary>
    public static CancellationToken ct { get; set; }

    /// <summary>Where the current credential lives (rotated by the app; read on every connect).</summary>
    public static TokenStore tokens { get; } = new();

    /// <summary>The risk loop the feed reports to.</summary>
    public static RiskMonitor risk { get; } = new();

    /// <summary>The host builder of the hosting snippets.</summary>
    public static WebApplicationBuilder builder { get; } = WebApplication.CreateBuilder();

    /// <summary>What <see cref="Handle"/> received, in order.</summary>
    public static List<Frame> Handled { get; } = [];

    /// <summary>Released once per frame <see cref="Handle"/> receives (the test waits on it instead of polling).</summary>
    public static SemaphoreSlim HandledSignal { get; } = new(0);

    /// <summary>The app's frame handler.</summary>
    public static void Handle(Frame frame)
    {
        lock (Handled)
        {
            Handled.Add(frame);
        }

        HandledSignal.Release();
    }
}
}

// The reader's own types the snippets name (global namespace, as in a small app).

/// <summary>Holds the current token.</summary>
public sealed class TokenStore
{
    /// <summary>The token to stamp now.</summary>
    public string Current { get; set; } = "token";
}

/// <summary>The risk loop's view of the feed.</summary>
public sealed class RiskMonitor
{
    /// <summary>Since when the feed is down (null: up).</summary>
    public DateTimeOffset? DownSince { get; private set; }

    /// <summary>Marks the feed down.</summary>
    public void MarkFeedDown(DateTimeOffset? since) => DownSince = since;
}

/// <summary>A venue message (the hosting snippet reads it as typed JSON).</summary>
/// <param name="Symbol">The instrument.</param>
/// <param name="Price">The price.</param>
public sealed record Tick(string Symbol, decimal Price);

/// <summary>A listen-key holder (the Binance shape).</summary>
public sealed class ListenKeyStore
{
    /// <summary>The current key.</summary>
    public string Current { get; set; } = "key";
}

/// <summary>Stamps the current listen key on every attempt.</summary>
public sealed class ListenKeyAuth(ListenKeyStore keys) : IAuthSource
{
    /// <inheritdoc />
    public ValueTask StampAsync(HandshakeRequest request, AuthContext context, CancellationToken cancellationToken)
    {
        request.Headers["X-MBX-APIKEY"] = keys.Current;
        return ValueTask.CompletedTask;
    }
}

/// <summary>A handler in the handshake's HttpClient pipeline.</summary>
public sealed class HandshakeAuditHandler : DelegatingHandler
{
}
