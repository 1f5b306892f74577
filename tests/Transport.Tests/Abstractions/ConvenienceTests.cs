using System.Text.Json;
using System.Text.Json.Serialization;

namespace Transport.Tests.Abstractions;

public sealed record Subscribe(string Method, string[] Params, int Id);

[JsonSerializable(typeof(Subscribe))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class ConvenienceJson : JsonSerializerContext;

public sealed class ConvenienceTests
{
    [Fact]
    public void Json_round_trips_through_a_text_frame_with_source_generated_metadata()
    {
        var frame = FrameJson.ToFrame(new Subscribe("SUBSCRIBE", ["btcusdt@trade"], 7), ConvenienceJson.Default.Subscribe);

        Assert.Equal(FrameKind.Text, frame.Kind);
        Assert.Equal("""{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":7}""", frame.GetText());
        var back = frame.ReadJson(ConvenienceJson.Default.Subscribe);
        Assert.Equal(7, back!.Id);
        Assert.Equal(["btcusdt@trade"], back.Params);
    }

    [Fact]
    public void Binary_frames_read_as_json_and_documents_too()
    {
        var frame = Frame.Binary("""{"method":"X","params":[],"id":1}"""u8.ToArray());

        Assert.Equal("X", frame.ReadJson(ConvenienceJson.Default.Subscribe)!.Method);
        using var document = frame.ReadJsonDocument();
        Assert.Equal(1, document.RootElement.GetProperty("id").GetInt32());
        Assert.Null(frame.TryGetText());
        Assert.Equal("hi", Frame.Text("hi").TryGetText());
    }

    [Fact]
    public void Control_frames_and_invalid_json_are_refused_with_clear_errors()
    {
        Assert.Throws<InvalidOperationException>(() => Frame.Ping().ReadJson(ConvenienceJson.Default.Subscribe));
        Assert.ThrowsAny<JsonException>(() => Frame.Text("{not json").ReadJson(ConvenienceJson.Default.Subscribe));
    }

    [Fact]
    public async Task Strings_and_json_go_out_through_the_sink_as_text_frames()
    {
        var sink = new RecordingSink();

        await sink.SendTextAsync("ping");
        Assert.Equal(SendStatus.Accepted, sink.TrySendJson(new Subscribe("SUBSCRIBE", [], 2), ConvenienceJson.Default.Subscribe, SendOptions.PinnedTo(3)));
        await sink.SendJsonAsync(new Subscribe("UNSUBSCRIBE", [], 3), ConvenienceJson.Default.Subscribe, SendOptions.Urgent);

        Assert.Equal(["ping", """{"method":"SUBSCRIBE","params":[],"id":2}""", """{"method":"UNSUBSCRIBE","params":[],"id":3}"""], sink.Frames.Select(f => f.Frame.GetText()));
        Assert.Equal(3, sink.Frames[1].Options.PinnedEpoch);
        Assert.Equal(SendLane.Control, sink.Frames[2].Options.Lane);
    }

    private sealed class RecordingSink : IFrameSink
    {
        public List<(Frame Frame, SendOptions Options)> Frames { get; } = [];

        public int QueuedFrames => 0;

        public long QueuedBytes => 0;

        public long FailedAfterAccept => 0;

        public ValueTask SendAsync(Frame frame, SendOptions options, CancellationToken cancellationToken = default)
        {
            Frames.Add((frame, options));
            return ValueTask.CompletedTask;
        }

        public ValueTask SendAsync(Frame frame, CancellationToken cancellationToken = default) => SendAsync(frame, default, cancellationToken);

        public SendStatus TrySend(Frame frame, SendOptions options = default)
        {
            Frames.Add((frame, options));
            return SendStatus.Accepted;
        }
    }
}
