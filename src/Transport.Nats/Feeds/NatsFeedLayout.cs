using System.Text;

namespace Transport.Nats;

/// <summary>
/// Where one feed lives on NATS: its JetStream stream and subjects, and its keys in the KV bucket.
/// The relay and every consumer of a feed must build the same layout (same feed name, prefix,
/// stream and bucket).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Frames: <c>{prefix}.{feed}.frames</c>, or <c>{prefix}.{feed}.frames.{key}</c> when the relay's key
/// selector names a key (a topic, a symbol), so other NATS tools can filter by subject.</item>
/// <item>Stream <see cref="StreamName"/> holds both (<c>{prefix}.{feed}.frames</c> and <c>{prefix}.{feed}.frames.&gt;</c>): one stream per feed, so
/// its sequence orders the whole feed.</item>
/// <item>KV bucket <see cref="Bucket"/>: <c>{feed}.lifecycle</c> (the relay's lifecycle snapshot, last value wins)
/// and <c>{feed}.lease</c> (the active relay's lease).</item>
/// </list>
/// See docs/adr/0017-nats-relay.md.
/// </remarks>
public sealed class NatsFeedLayout
{
    /// <summary>The default subject prefix.</summary>
    public const string DefaultSubjectPrefix = "transport";

    /// <summary>The default KV bucket.</summary>
    public const string DefaultBucket = "transport-feeds";

    /// <summary>Describes a feed's place on NATS.</summary>
    /// <param name="feed">The feed's name: 1 to 64 of <c>A-Z a-z 0-9 _ -</c>.</param>
    /// <param name="subjectPrefix">The subjects' prefix (dot-separated tokens of <c>A-Z a-z 0-9 _ -</c>); default <c>transport</c>.</param>
    /// <param name="streamName">The stream's name; null: <c>TRANSPORT_{feed}</c>.</param>
    /// <param name="bucket">The KV bucket; default <c>transport-feeds</c>.</param>
    /// <exception cref="ArgumentException">A name is invalid (the message names which).</exception>
    public NatsFeedLayout(string feed, string? subjectPrefix = null, string? streamName = null, string? bucket = null)
    {
        Feed = CheckName(feed, "Feed", 64);
        SubjectPrefix = subjectPrefix ?? DefaultSubjectPrefix;
        if (SubjectPrefix.Length == 0 || SubjectPrefix.Split('.').Any(t => t.Length == 0 || !t.All(IsNameChar)))
        {
            throw new ArgumentException($"SubjectPrefix: '{SubjectPrefix}' must be dot-separated tokens of A-Z a-z 0-9 _ -.", nameof(subjectPrefix));
        }

        StreamName = CheckName(streamName ?? "TRANSPORT_" + feed, "StreamName", 255);
        Bucket = CheckName(bucket ?? DefaultBucket, "Bucket", 255);
        FrameSubject = $"{SubjectPrefix}.{Feed}.frames";
    }

    /// <summary>The feed's name.</summary>
    public string Feed { get; }

    /// <summary>The subjects' prefix.</summary>
    public string SubjectPrefix { get; }

    /// <summary>The JetStream stream holding the feed's frames.</summary>
    public string StreamName { get; }

    /// <summary>The KV bucket holding the lifecycle and the lease.</summary>
    public string Bucket { get; }

    /// <summary>The subject of frames without a key.</summary>
    public string FrameSubject { get; }

    /// <summary>The stream's subjects: the frame subject and every keyed subject under it.</summary>
    public IReadOnlyList<string> StreamSubjects => [FrameSubject, FrameSubject + ".>"];

    /// <summary>The KV key of the relay's lifecycle snapshot.</summary>
    public string LifecycleKey => Feed + ".lifecycle";

    /// <summary>The KV key of the active relay's lease.</summary>
    public string LeaseKey => Feed + ".lease";

    /// <summary>The subject a frame with <paramref name="key"/> is published on.</summary>
    /// <param name="key">The key the relay's key selector returned; null or empty: none.</param>
    /// <returns>
    /// <see cref="FrameSubject"/>, or <see cref="FrameSubject"/> + "." + the key with every character a subject
    /// cannot hold (whitespace, <c>*</c>, <c>&gt;</c>, control characters) replaced by <c>_</c> and empty tokens made <c>_</c>.
    /// </returns>
    public string SubjectFor(string? key) => string.IsNullOrEmpty(key) ? FrameSubject : FrameSubject + "." + SanitizeKey(key);

    /// <inheritdoc />
    public override string ToString() => $"feed {Feed}: stream {StreamName}, subjects {FrameSubject}[.key], bucket {Bucket}";

    internal static string SanitizeKey(string key)
    {
        var builder = new StringBuilder(key.Length);
        bool tokenEmpty = true;
        foreach (char c in key)
        {
            if (c == '.')
            {
                builder.Append(tokenEmpty ? "_." : ".");
                tokenEmpty = true;
                continue;
            }

            builder.Append(char.IsWhiteSpace(c) || char.IsControl(c) || c is '*' or '>' ? '_' : c);
            tokenEmpty = false;
        }

        if (tokenEmpty)
        {
            builder.Append('_');
        }

        return builder.ToString();
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-';

    private static string CheckName(string? value, string field, int maxLength)
    {
        if (string.IsNullOrEmpty(value) || value.Length > maxLength || !value.All(IsNameChar))
        {
            throw new ArgumentException($"{field}: '{value}' must be 1 to {maxLength} of A-Z a-z 0-9 _ -.", field);
        }

        return value;
    }
}
