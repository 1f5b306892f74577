namespace Transport.WebSockets;

/// <summary>
/// One owner per leaf setting (issue 11 item 5). The transport options own the settings both layers
/// must agree on; the leaf options own how a socket is opened. A value set in the wrong place is a
/// build-time error naming both fields, never a silent override.
/// </summary>
/// <remarks>
/// <para>Owners:</para>
/// <list type="table">
/// <item><term>TransportOptions.Receive.MaxMessageBytes (<c>WithMaxMessageSize</c>)</term><description>the leaf's message limit.</description></item>
/// <item><term>TransportOptions.Liveness.KeepAliveInterval / KeepAliveTimeout (<c>WithKeepAlive</c>)</term><description>the leaf's protocol keep-alive.</description></item>
/// <item><term>the builder's <c>WithTimeProvider</c></term><description>the leaf's clock (Frame.ReceivedAt, keep-alive timers).</description></item>
/// <item><term>the leaf options (<c>ConfigureClientWebSocket</c>, <c>UsePipelinesLeaf</c>)</term><description>HttpMessageInvoker, DeflateOptions, ReceiveBufferBytes, ConfigureSocket / ConfigureRequest.</description></item>
/// </list>
/// <para>
/// Override rule: a transport-owned setting may also appear in the leaf options only with the same
/// value (or its default, meaning "not set"); any other value fails <c>Build()</c>. With
/// <c>UseLeaf(ready-made leaf)</c> the builder cannot reach the leaf's settings, so the transport-owned
/// leaf settings must stay at their defaults (set them on that leaf's own options instead); otherwise
/// <c>Build()</c> fails rather than ignoring them.
/// </para>
/// </remarks>
internal static class LeafSettingOwnership
{
    /// <summary>The conflicts between the transport options and a leaf's own options; empty when consistent.</summary>
    public static List<string> Conflicts(
        TransportOptions options,
        string leafOptionsName,
        int leafMaxMessageBytes,
        TimeSpan? leafKeepAliveInterval,
        TimeSpan? leafKeepAliveTimeout,
        TimeProvider leafTime,
        TimeProvider builderTime)
    {
        var errors = new List<string>();
        if (leafMaxMessageBytes != ClientWebSocketConnectorOptions.DefaultMaxMessageBytes && leafMaxMessageBytes != options.Receive.MaxMessageBytes)
        {
            errors.Add($"{leafOptionsName}.MaxMessageBytes: {leafMaxMessageBytes} conflicts with Receive.MaxMessageBytes ({options.Receive.MaxMessageBytes}), which owns it; set it with WithMaxMessageSize.");
        }

        if (leafKeepAliveInterval is { } interval && interval != options.Liveness.KeepAliveInterval)
        {
            errors.Add($"{leafOptionsName}.KeepAliveInterval: {interval} conflicts with Liveness.KeepAliveInterval ({Show(options.Liveness.KeepAliveInterval)}), which owns it; set it with WithKeepAlive.");
        }

        if (leafKeepAliveTimeout is { } timeout && timeout != options.Liveness.KeepAliveTimeout)
        {
            errors.Add($"{leafOptionsName}.KeepAliveTimeout: {timeout} conflicts with Liveness.KeepAliveTimeout ({Show(options.Liveness.KeepAliveTimeout)}), which owns it; set it with WithKeepAlive.");
        }

        if (!ReferenceEquals(leafTime, TimeProvider.System) && !ReferenceEquals(leafTime, builderTime))
        {
            errors.Add($"{leafOptionsName}.TimeProvider: conflicts with the builder's clock, which owns it; set it with WithTimeProvider.");
        }

        return errors;
    }

    /// <summary>The transport-owned leaf settings a ready-made leaf (UseLeaf) cannot receive; empty when all are at their defaults.</summary>
    public static List<string> UnreachableByReadyMadeLeaf(TransportOptions options)
    {
        var errors = new List<string>();
        const string hint = "UseLeaf(...) takes a ready-made leaf the builder cannot configure: set it on that leaf's own options, or use the built-in leaves (the default Pipelines leaf, or ConfigureClientWebSocket(...)).";
        if (options.Receive.MaxMessageBytes != ClientWebSocketConnectorOptions.DefaultMaxMessageBytes)
        {
            errors.Add($"Receive.MaxMessageBytes: {options.Receive.MaxMessageBytes} would not reach the leaf. {hint}");
        }

        if (options.Liveness.KeepAliveInterval is not null)
        {
            errors.Add($"Liveness.KeepAliveInterval: would not reach the leaf. {hint}");
        }

        if (options.Liveness.KeepAliveTimeout is not null)
        {
            errors.Add($"Liveness.KeepAliveTimeout: would not reach the leaf. {hint}");
        }

        return errors;
    }

    private static string Show(TimeSpan? value) => value?.ToString() ?? "not set";
}
