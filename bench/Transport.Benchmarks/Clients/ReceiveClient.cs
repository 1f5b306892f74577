namespace Transport.Benchmarks.Clients;

/// <summary>The receive-side clients compared side by side.</summary>
internal enum ReceiveClient
{
    /// <summary>ClientWebSocket, one reused buffer, ValueTask ReceiveAsync(Memory): the practical limit.</summary>
    RawReused,

    /// <summary>The same, plus one exact-size byte[] per message: the floor for any API handing out owned messages.</summary>
    RawOwned,

    /// <summary>
    /// Websocket.Client 5.5.1 (the popular reconnecting wrapper) with its defaults: messages arrive
    /// through its <c>MessageReceived</c> observable (text decoded to a string).
    /// </summary>
    WebsocketClient,

    /// <summary>Diagnostic: the stack's own leaf receiver (reassembly, copy, UTF-8 check) called in a loop, no actor, no ring, no thread hop.</summary>
    LeafOnly,

    /// <summary>Diagnostic: the leaf's loop writing into a DropOldestRing read by another task (the stack minus the actor).</summary>
    LeafRing,

    /// <summary>Diagnostic: as LeafRing, with an unbounded single-reader/single-writer Channel instead of the ring.</summary>
    LeafChannel,

    /// <summary>The full reconnecting stack, consumed with await foreach over Source.</summary>
    StackForeach,

    /// <summary>The full reconnecting stack, consumed with WaitToReadAsync + TryRead.</summary>
    StackTryRead,

    /// <summary>The full reconnecting stack, consumed with ReadBatchAsync into a reused Frame[64].</summary>
    StackBatch,

    /// <summary>The full reconnecting stack in lease mode (WithLeasedPayloads): ReadBatchAsync, each frame released after use.</summary>
    StackLease,

    /// <summary>Diagnostic: the Pipelines leaf's receiver alone (ReceiveAsync, then TryReceive while it holds parsed frames, as the receive loop does), no actor, no ring, no thread hop.</summary>
    PipeLeafOnly,

    /// <summary>Diagnostic: as PipeLeafOnly in lease mode, each frame released on the receiving thread (the pool without a second thread).</summary>
    PipeLeafOnlyLease,

    /// <summary>As StackForeach, over the System.IO.Pipelines leaf (UsePipelinesLeaf).</summary>
    PipeForeach,

    /// <summary>As StackTryRead, over the System.IO.Pipelines leaf.</summary>
    PipeTryRead,

    /// <summary>As StackBatch, over the System.IO.Pipelines leaf.</summary>
    PipeBatch,

    /// <summary>As StackLease, over the System.IO.Pipelines leaf.</summary>
    PipeLease,
}
