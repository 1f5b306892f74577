namespace Transport.WebSockets.Buffering;

/// <summary>
/// A few spare <see cref="Frame"/> arrays of <see cref="Length"/> slots per thread, for buffers that are
/// only needed while frames pass through (the source's read-ahead): rented when frames arrive, returned
/// empty when they have gone, so an idle connection holds none (docs/adr/0021-cost-at-scale.md).
/// </summary>
/// <remarks>
/// FrameArrays.A1 (test: FrameArrayCacheTests): an array is returned with every slot cleared (no payload
/// is kept alive by a spare), and a rent never hands out an array that is still rented. Per thread, so no
/// lock: an array returned on another thread than it was rented on simply moves to that thread's spares.
/// At most <see cref="SparesPerThread"/> spares per thread; beyond that a returned array is left to the GC.
/// </remarks>
internal static class FrameArrayCache
{
    /// <summary>Slots per array.</summary>
    public const int Length = 64;

    /// <summary>The most spares a thread keeps.</summary>
    public const int SparesPerThread = 4;

    [ThreadStatic]
    private static Frame[]?[]? t_spares;

    [ThreadStatic]
    private static int t_count;

    /// <summary>A cleared array of <see cref="Length"/> frames: a spare of this thread, else a new one.</summary>
    public static Frame[] Rent()
    {
        var spares = t_spares;
        if (spares is not null && t_count > 0)
        {
            int i = --t_count;
            var array = spares[i]!;
            spares[i] = null;
            return array;
        }

        return new Frame[Length];
    }

    /// <summary>Returns an array taken from <see cref="Rent"/>, whose slots the caller has cleared (A1).</summary>
    /// <param name="array">The array; the caller must not touch it afterwards.</param>
    public static void Return(Frame[] array)
    {
        System.Diagnostics.Debug.Assert(array.Length == Length, "only arrays from Rent");
        System.Diagnostics.Debug.Assert(Array.TrueForAll(array, f => f.Length == 0), "A1: returned arrays are cleared");
        var spares = t_spares ??= new Frame[]?[SparesPerThread];
        if (t_count < SparesPerThread)
        {
            spares[t_count++] = array;
        }
    }
}
