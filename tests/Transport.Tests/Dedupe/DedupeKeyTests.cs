using System.Text;

namespace Transport.Tests.Dedupe;

/// <summary>The key's stream hash is stable (across processes and input forms) and allocation-free for topics.</summary>
public sealed class DedupeKeyTests
{
    [Fact]
    public void StreamOf_is_the_same_for_a_string_its_characters_and_its_utf8_bytes()
    {
        foreach (var name in new[] { "", "BTC-USD", "btcusdt@depth@100ms", "Ünïcödé-€", new string('x', 1_000) })
        {
            ulong fromString = DedupeKey.StreamOf(name);
            Assert.Equal(fromString, DedupeKey.StreamOf(name.AsSpan()));
            Assert.Equal(fromString, DedupeKey.StreamOf(Encoding.UTF8.GetBytes(name)));
        }
    }

    [Fact]
    public void StreamOf_is_pinned_so_keys_compare_across_processes_and_versions()
    {
        // XxHash64, seed 0, of the UTF-8 bytes: these values must never change (relays and logs compare them).
        Assert.Equal(0xEF46DB3751D8E999UL, DedupeKey.StreamOf(""));
        Assert.Equal(DedupeKey.StreamOf("BTC-USD"), System.IO.Hashing.XxHash64.HashToUInt64("BTC-USD"u8));
        Assert.NotEqual(DedupeKey.StreamOf("BTC-USD"), DedupeKey.StreamOf("ETH-USD"));
    }

    [Fact]
    public void For_builds_stream_and_sequence_and_ToString_shows_both()
    {
        var key = DedupeKey.For("BTC-USD", 42);
        Assert.Equal(new DedupeKey(DedupeKey.StreamOf("BTC-USD"), 42), key);
        Assert.EndsWith("#42", key.ToString(), StringComparison.Ordinal);
        Assert.Equal(16 + 3, key.ToString().Length);
    }

    [Fact]
    public void StreamOf_a_topic_allocates_nothing()
    {
        DedupeKey.StreamOf("warm-up".AsSpan());
        long before = GC.GetAllocatedBytesForCurrentThread();
        ulong sum = 0;
        for (int i = 0; i < 1_000; i++)
        {
            sum += DedupeKey.StreamOf("btcusdt@depth@100ms".AsSpan());
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.NotEqual(0UL, sum);
    }

    [Fact]
    public void A_selector_reads_a_key_from_the_payload_bytes()
    {
        FrameKeySelector selector = static (in Frame frame, out DedupeKey key) =>
        {
            var text = frame.GetText();
            var parts = text.Split(':');
            key = parts.Length == 2 ? DedupeKey.For(parts[0], long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture)) : default;
            return parts.Length == 2;
        };

        Assert.True(selector(Frame.Text("BTC-USD:7"), out var key));
        Assert.Equal(DedupeKey.For("BTC-USD", 7), key);
        Assert.False(selector(Frame.Text("hello"), out _));
    }
}
