using TradingAdapters;
using TradingAdapters.Protocol;
using Transport;

namespace Samples.Tests.Adapters;

/// <summary>The Binance-like adapter's dedupe key: (topic, seq) of a tick, nothing for any other message.</summary>
public sealed class VenueKeysTests
{
    [Theory]
    [InlineData("""{"type":"tick","topic":"BTC-USD","seq":17,"price":101.23,"ts":1718000000000}""", "BTC-USD", 17)]
    [InlineData("""{"seq":3,"price":1,"topic":"ETH-USD","type":"tick"}""", "ETH-USD", 3)]
    [InlineData("""{"type":"tick","topic":"BTC\u002DUSD","seq":17}""", "BTC-USD", 17)]
    public void A_tick_is_keyed_by_topic_and_seq_in_any_field_order(string json, string topic, long seq)
    {
        Assert.True(BinanceLikeAdapter.KeySelector(Frame.Text(json), out var key));
        Assert.Equal(DedupeKey.For(topic, seq), key);
    }

    [Theory]
    [InlineData("""{"type":"snapshot","topic":"BTC-USD","seq":17,"levels":[["buy",1,2]]}""")]
    [InlineData("""{"type":"subscribed","topics":["BTC-USD"],"id":1}""")]
    [InlineData("""{"type":"pong","id":3,"ts":1}""")]
    [InlineData("""{"type":"tick","topic":"BTC-USD"}""")]
    [InlineData("""{"type":"tick","seq":4}""")]
    [InlineData("""not json""")]
    [InlineData("""[1,2]""")]
    public void Every_other_message_has_no_key(string json)
    {
        Assert.False(VenueKeys.TopicAndSeq(Frame.Text(json), out _));
    }

    [Fact]
    public void Reading_a_key_allocates_nothing()
    {
        var frame = Frame.Text("""{"type":"tick","topic":"BTC-USD","seq":17,"price":101.23,"ts":1718000000000}""");
        VenueKeys.TopicAndSeq(frame, out _);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            VenueKeys.TopicAndSeq(frame, out _);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
