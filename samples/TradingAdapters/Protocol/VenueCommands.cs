using System.Text.Json;
using Transport;

namespace TradingAdapters.Protocol;

/// <summary>Builds the simulator's client-to-server messages (PROTOCOL.md) as text frames.</summary>
public static class VenueCommands
{
    /// <summary><c>{"op":"subscribe","topics":[topic],"id":id}</c>.</summary>
    public static Frame Subscribe(string topic, long id) =>
        Frame.Text($$"""{"op":"subscribe","topics":[{{Quote(topic)}}],"id":{{id}}}""");

    /// <summary><c>{"op":"subscribe","topics":[topics...],"id":id}</c>: several topics in one request.</summary>
    public static Frame Subscribe(IEnumerable<string> topics, long id) =>
        Frame.Text($$"""{"op":"subscribe","topics":[{{string.Join(',', topics.Select(Quote))}}],"id":{{id}}}""");

    /// <summary><c>{"op":"unsubscribe","topics":[topics...],"id":id}</c>.</summary>
    public static Frame Unsubscribe(IEnumerable<string> topics, long id) =>
        Frame.Text($$"""{"op":"unsubscribe","topics":[{{string.Join(',', topics.Select(Quote))}}],"id":{{id}}}""");

    /// <summary><c>{"op":"snapshot","topic":topic,"id":id}</c>.</summary>
    public static Frame Snapshot(string topic, long id) =>
        Frame.Text($$"""{"op":"snapshot","topic":{{Quote(topic)}},"id":{{id}}}""");

    /// <summary>The application ping <c>{"op":"ping","id":id}</c> (IBKR's /tickle in spirit).</summary>
    public static Frame Ping(long id) => Frame.Text($$"""{"op":"ping","id":{{id}}}""");

    // Topic names come from the command line: escape them rather than trust them. JsonEncodedText
    // escapes as the serializer does, without its reflection (the console subscriber publishes with NativeAOT).
    private static string Quote(string value) => "\"" + JsonEncodedText.Encode(value) + "\"";
}
