using System.Text.Json;
using System.Text.Json.Serialization;
using Transport.Mock;

namespace Transport.Tests.Abstractions;

/// <summary>A venue message read with source-generated metadata.</summary>
/// <param name="Symbol">The instrument.</param>
/// <param name="Price">The price.</param>
public sealed record Tick(string Symbol, decimal Price);

[JsonSerializable(typeof(Tick))]
internal sealed partial class TickJson : JsonSerializerContext;

/// <summary>
/// Issue 23: <c>Source.ReadJsonAsync(typeInfo)</c>, typed JSON over a frame source (AOT-safe metadata).
/// A frame that does not parse never vanishes: it ends the enumeration with a
/// <see cref="FrameJsonException"/> naming the frame (and the frames after it stay readable), or is
/// handed to the caller's handler and skipped. Every frame read is released (lease mode).
/// </summary>
public sealed class ReadJsonTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Text_and_binary_frames_become_values_in_order()
    {
        await using var fake = new FakeReconnectingConnection();
        fake.PushText("""{"Symbol":"BTC-USD","Price":101.5}""");
        fake.Push(Frame.Binary("""{"Symbol":"ETH-USD","Price":3.25}"""u8.ToArray()));
        fake.CompleteSource();

        var ticks = await ReadAllAsync(fake.Connection.Source.ReadJsonAsync(TickJson.Default.Tick));

        Assert.Equal([new Tick("BTC-USD", 101.5m), new Tick("ETH-USD", 3.25m)], ticks);
    }

    [Fact]
    public async Task An_invalid_frame_ends_the_enumeration_naming_the_frame_and_the_next_ones_stay_readable()
    {
        await using var fake = new FakeReconnectingConnection();
        fake.PushText("""{"Symbol":"BTC-USD","Price":1}""");
        fake.Push(Frame.Text("""{"Symbol":"BTC-USD","Price":"not a number"}""").WithEpoch(3));
        fake.PushText("""{"Symbol":"BTC-USD","Price":2}""");
        fake.CompleteSource();
        var read = new List<Tick>();

        var error = await Assert.ThrowsAsync<FrameJsonException>(async () =>
        {
            await foreach (var tick in fake.Connection.Source.ReadJsonAsync(TickJson.Default.Tick))
            {
                read.Add(tick);
            }
        });

        Assert.Equal([new Tick("BTC-USD", 1)], read);
        Assert.Equal((FrameKind.Text, 3L, typeof(Tick)), (error.Kind, error.Epoch, error.TargetType));
        Assert.Equal(43, error.Length);
        Assert.Equal("$.Price", error.Path);
        Assert.IsAssignableFrom<JsonException>(error.InnerException);
        Assert.StartsWith("A Text frame of epoch 3 (43 B) is not valid JSON for Tick: ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("not a number", error.Message, StringComparison.Ordinal); // the payload is not echoed

        // Enumerating again goes on after the bad frame.
        Assert.Equal([new Tick("BTC-USD", 2)], await ReadAllAsync(fake.Connection.Source.ReadJsonAsync(TickJson.Default.Tick)));
    }

    [Fact]
    public async Task With_a_handler_invalid_frames_are_handed_over_and_skipped()
    {
        await using var fake = new FakeReconnectingConnection();
        fake.PushText("not json at all");
        fake.PushText("""{"Symbol":"BTC-USD","Price":1}""");
        fake.PushText("null");
        fake.PushText("""{"Symbol":"BTC-USD","Price":2}""");
        fake.CompleteSource();
        var invalid = new List<(string Payload, FrameJsonException Error)>();

        var ticks = await ReadAllAsync(fake.Connection.Source.ReadJsonAsync(TickJson.Default.Tick, (frame, error) => invalid.Add((frame.GetText(), error))));

        Assert.Equal([new Tick("BTC-USD", 1), new Tick("BTC-USD", 2)], ticks);
        Assert.Equal(["not json at all", "null"], invalid.Select(i => i.Payload));
        Assert.Contains("JSON literal null", invalid[1].Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_handler_that_throws_ends_the_enumeration_with_its_exception()
    {
        await using var fake = new FakeReconnectingConnection();
        fake.PushText("{");
        fake.CompleteSource();
        var bug = new InvalidOperationException("handler bug");

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => ReadAllAsync(fake.Connection.Source.ReadJsonAsync(TickJson.Default.Tick, (_, _) => throw bug)));

        Assert.Same(bug, thrown);
    }

    [Fact]
    public async Task Every_frame_read_is_released_parsed_or_not()
    {
        await using var fake = new FakeReconnectingConnection();
        var pool = new PayloadLeasePool();
        var good = Frame.Leased(FrameKind.Text, Rent(pool, """{"Symbol":"A","Price":1}"""u8.ToArray()));
        var bad = Frame.Leased(FrameKind.Text, Rent(pool, "{"u8.ToArray()));
        fake.Push(good);
        fake.Push(bad);
        fake.CompleteSource();

        var ticks = await ReadAllAsync(fake.Connection.Source.ReadJsonAsync(TickJson.Default.Tick, (_, _) => { }));

        Assert.Equal([new Tick("A", 1)], ticks);
        Assert.Throws<InvalidOperationException>(() => good.Release()); // already released once, by the reader
        Assert.Throws<InvalidOperationException>(() => bad.Release());
    }

    [Fact]
    public async Task The_source_ending_with_an_error_ends_the_values_with_it()
    {
        await using var fake = new FakeReconnectingConnection();
        fake.PushText("""{"Symbol":"A","Price":1}""");
        fake.CompleteSource(TransportException.Auth(401));
        var read = new List<Tick>();

        var error = await Assert.ThrowsAsync<TransportException>(async () =>
        {
            await foreach (var tick in fake.Connection.Source.ReadJsonAsync(TickJson.Default.Tick))
            {
                read.Add(tick);
            }
        });

        Assert.Equal(401, error.HttpStatus);
        Assert.Single(read);
    }

    private static async Task<List<Tick>> ReadAllAsync(IAsyncEnumerable<Tick> values)
    {
        var list = new List<Tick>();
        await foreach (var value in values.WithCancellation(new CancellationTokenSource(Bound).Token))
        {
            list.Add(value);
        }

        return list;
    }

    private static PayloadLease Rent(PayloadLeasePool pool, byte[] bytes)
    {
        var lease = pool.Rent(bytes.Length);
        bytes.CopyTo(lease.Writable);
        return lease;
    }
}
