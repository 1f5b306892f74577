using Transport;
using Transport.WebSockets.Buffering;

namespace Transport.Tests.Buffering;

/// <summary>The per-thread spare frame arrays behind the source's read-ahead (FrameArrays.A1).</summary>
public sealed class FrameArrayCacheTests
{
    [Fact]
    [Trait("Invariant", "FrameArrays.A1")]
    public void A1_a_rented_array_is_never_handed_out_twice_and_spares_are_reused()
    {
        // On a thread of its own: the cache is per thread, so nothing else touches these spares.
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                var rented = Enumerable.Range(0, FrameArrayCache.SparesPerThread + 2).Select(_ => FrameArrayCache.Rent()).ToArray();
                Assert.Equal(rented.Length, rented.Distinct(ReferenceEqualityComparer.Instance).Count());
                Assert.All(rented, a => Assert.Equal(FrameArrayCache.Length, a.Length));

                foreach (var array in rented)
                {
                    FrameArrayCache.Return(array); // the last two exceed the spares and are left to the GC
                }

                var again = Enumerable.Range(0, FrameArrayCache.SparesPerThread).Select(_ => FrameArrayCache.Rent()).ToArray();
                Assert.All(again, a => Assert.Contains(a, rented, ReferenceEqualityComparer.Instance)); // reused, not new
                Assert.Equal(again.Length, again.Distinct(ReferenceEqualityComparer.Instance).Count());
                Assert.DoesNotContain(FrameArrayCache.Rent(), rented, ReferenceEqualityComparer.Instance); // spares exhausted: a new array
                Assert.All(again, a => Assert.All(a, f => Assert.Equal(0, f.Length)));
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        thread.Join();
        Assert.Null(failure);
    }
}
