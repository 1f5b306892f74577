namespace Transport.Benchmarks.Clients;

/// <summary>The receive-side clients compared side by side.</summary>
internal enum ReceiveClient
{
    /// <summary>ClientWebSocket, one reused buffer, ValueTask ReceiveAsync(Memory): the practical limit.</summary>
    RawReused,

    /// <summary>The same, plus one exact-size byte[] per message: the floor for any API handing out owned messages.</summary>
    RawOwned,

    /// <summary>The full reconnecting stack, consumed with await foreach over Source.</summary>
    StackForeach,

    /// <summary>The full reconnecting stack, consumed with WaitToReadAsync + TryRead.</summary>
    StackTryRead,
}
