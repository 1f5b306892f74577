using System.Net.Http;
using System.Net.WebSockets;
using Transport.WebSockets;
using Xunit;

namespace Transport.Testing;

/// <summary>
/// The one list of built-in leaves that leaf-parametrised tests run over (fault matrix, soak, handshake
/// classification, TLS and proxy tests), and the one way to apply a choice to a stack or create a
/// bare leaf. A new leaf is added here and every parametrised test picks it up.
/// </summary>
/// <example>
/// <code>
/// [Theory]
/// [MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]
/// public async Task Something(LeafKind leaf)
/// {
///     var transport = new WebSocketTransportBuilder().Configure(o => o.WithUri(uri)).UseLeafKind(leaf).Build();
///     await using var bare = await LeafKinds.CreateConnector(leaf).ConnectAsync(handshake, ct);
/// }
/// </code>
/// </example>
public static class LeafKinds
{
    /// <summary>Every built-in leaf, in a stable order.</summary>
    public static IReadOnlyList<LeafKind> Values { get; } = [LeafKind.ClientWebSocket, LeafKind.Pipelines];

    /// <summary>Theory data: one row per built-in leaf (<c>[MemberData(nameof(LeafKinds.All), MemberType = typeof(LeafKinds))]</c>).</summary>
    public static TheoryData<LeafKind> All
    {
        get
        {
            var data = new TheoryData<LeafKind>();
            foreach (var kind in Values)
            {
                data.Add(kind);
            }

            return data;
        }
    }

    /// <summary>Theory data: every built-in leaf crossed with each of <paramref name="values"/> (leaf first).</summary>
    /// <typeparam name="T">The second parameter's type.</typeparam>
    /// <param name="values">The second parameter's values.</param>
    /// <returns>One row per (leaf, value).</returns>
    public static TheoryData<LeafKind, T> Cross<T>(params T[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var data = new TheoryData<LeafKind, T>();
        foreach (var kind in Values)
        {
            foreach (var value in values)
            {
                data.Add(kind, value);
            }
        }

        return data;
    }

    /// <summary>Chooses <paramref name="kind"/> on the options (the configuration path: <see cref="TransportOptions.Leaf"/>).</summary>
    /// <param name="options">The options builder.</param>
    /// <param name="kind">The leaf.</param>
    /// <returns>The options builder.</returns>
    public static TransportOptionsBuilder WithLeafKind(this TransportOptionsBuilder options, LeafKind kind)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.WithLeaf(kind);
    }

    /// <summary>
    /// Chooses <paramref name="kind"/> on a stack builder and hands it the settings both leaves share
    /// (the handshake's <paramref name="invoker"/>, for TLS and proxies; <paramref name="deflate"/>).
    /// </summary>
    /// <param name="builder">The stack builder.</param>
    /// <param name="kind">The leaf.</param>
    /// <param name="invoker">Carries the upgrade request (proxy, TLS settings); null: the leaf's default.</param>
    /// <param name="deflate">permessage-deflate parameters; null: off.</param>
    /// <returns>The stack builder.</returns>
    public static WebSocketTransportBuilder UseLeafKind(this WebSocketTransportBuilder builder, LeafKind kind, HttpMessageInvoker? invoker = null, WebSocketDeflateOptions? deflate = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        switch (kind)
        {
            case LeafKind.Pipelines:
                return builder.UsePipelinesLeaf(o =>
                {
                    o.HttpMessageInvoker = invoker ?? o.HttpMessageInvoker;
                    o.DeflateOptions = deflate ?? o.DeflateOptions;
                });
            case LeafKind.ClientWebSocket:
                builder.Configure(o => o.WithLeaf(LeafKind.ClientWebSocket));
                return invoker is null && deflate is null
                    ? builder
                    : builder.ConfigureClientWebSocket(o =>
                    {
                        o.HttpMessageInvoker = invoker ?? o.HttpMessageInvoker;
                        o.DeflateOptions = deflate ?? o.DeflateOptions;
                    });
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a built-in leaf.");
        }
    }

    /// <summary>A bare leaf connector of <paramref name="kind"/> (for leaf-level tests without the stack).</summary>
    /// <param name="kind">The leaf.</param>
    /// <param name="maxMessageBytes">The message limit; null: the leaf's default (16 MiB).</param>
    /// <param name="invoker">Carries the upgrade request; null: the leaf's default.</param>
    /// <param name="deflate">permessage-deflate parameters; null: off.</param>
    /// <param name="time">The leaf's clock; null: the system clock.</param>
    /// <returns>The connector.</returns>
    public static ILeafConnector CreateConnector(LeafKind kind, int? maxMessageBytes = null, HttpMessageInvoker? invoker = null, WebSocketDeflateOptions? deflate = null, TimeProvider? time = null) =>
        kind switch
        {
            LeafKind.Pipelines => new PipeWebSocketConnector(new PipeWebSocketConnectorOptions
            {
                MaxMessageBytes = maxMessageBytes ?? ClientWebSocketConnectorOptions.DefaultMaxMessageBytes,
                HttpMessageInvoker = invoker,
                DeflateOptions = deflate,
                TimeProvider = time ?? TimeProvider.System,
            }),
            LeafKind.ClientWebSocket => new ClientWebSocketConnector(new ClientWebSocketConnectorOptions
            {
                MaxMessageBytes = maxMessageBytes ?? ClientWebSocketConnectorOptions.DefaultMaxMessageBytes,
                HttpMessageInvoker = invoker,
                DeflateOptions = deflate,
                TimeProvider = time ?? TimeProvider.System,
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a built-in leaf."),
        };
}
