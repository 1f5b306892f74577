namespace Transport.WebSockets.Legs;

/// <summary>What the merged source does with frames that have no dedupe key.</summary>
public enum UnkeyedFramePolicy
{
    /// <summary>
    /// Deliver the unkeyed frames of the primary leg only (the first leg, in the configured order, that is
    /// up); drop and count the other legs' copies. When the primary goes down the next up leg becomes the
    /// primary, so replies and heartbeats keep coming from exactly one socket. The default.
    /// </summary>
    PrimaryOnly,

    /// <summary>Deliver the unkeyed frames of every leg: the adapter sees one copy per leg and sorts them out.</summary>
    All,
}

/// <summary>One socket of a redundant connection: where it connects and how it logs in.</summary>
/// <remarks>
/// Everything not set here comes from the connector the redundant connection is started from (options,
/// classifier, liveness, limits, its session initializer, and its connect-attempt gate, which every leg
/// shares).
/// </remarks>
public sealed record LegOptions
{
    /// <summary>The leg's name, in connection names (<c>{Name}.{leg}</c>), logs and metric tags. Default <c>leg{index}</c>.</summary>
    public string? Name { get; init; }

    /// <summary>
    /// This leg's endpoint (another gateway, region or data center of the venue). Null: the connector's
    /// endpoint and failover list (or its endpoint provider).
    /// </summary>
    public Uri? Uri { get; init; }

    /// <summary>Further endpoints of this leg tried after <see cref="Uri"/> (replacing the connector's list). Null: none when <see cref="Uri"/> is set.</summary>
    public IReadOnlyList<Uri>? FailoverUris { get; init; }

    /// <summary>Chooses this leg's endpoint on every attempt (replaces <see cref="Uri"/> and the connector's provider). Null: see <see cref="Uri"/>.</summary>
    public IEndpointProvider? Endpoints { get; init; }

    /// <summary>Stamps this leg's credentials on each of its attempts (its own key or token). Null: the connector's auth source.</summary>
    public IAuthSource? Auth { get; init; }

    /// <summary>
    /// Runs on every new socket of this leg after the connector's own initializer (if any), before the leg
    /// is up: this leg's login and subscriptions. Null: the connector's initializer only.
    /// </summary>
    public ISessionInitializer? Initializer { get; init; }
}

/// <summary>The legs of a redundant connection and how their frames are merged.</summary>
public sealed record RedundantConnectionOptions
{
    /// <summary>The most legs one redundant connection may have: 16.</summary>
    public const int MaxLegs = 16;

    /// <summary>The redundant connection's name (logs, metrics, connection names of its legs). Default "legs".</summary>
    public string Name { get; init; } = "legs";

    /// <summary>
    /// The legs, in order of preference: the first up leg is the primary (it carries sends and, by default,
    /// the unkeyed frames). 1 to <see cref="MaxLegs"/>; two or more for redundancy.
    /// </summary>
    public IReadOnlyList<LegOptions> Legs { get; init; } = [new LegOptions(), new LegOptions()];

    /// <summary>
    /// Reads each frame's dedupe key (for example topic + the venue's sequence number). Null: no frame has a
    /// key, so the merged source is the primary leg's frames only (a hot standby that fails over, without
    /// dedupe; <see cref="Unkeyed"/> must then be <see cref="UnkeyedFramePolicy.PrimaryOnly"/>).
    /// </summary>
    public FrameKeySelector? KeySelector { get; init; }

    /// <summary>The bounds of the arbitration state (the keys remembered). Default 100,000 keys, 10 s.</summary>
    public DedupeWindowOptions Dedupe { get; init; } = new();

    /// <summary>What happens to frames without a key. Default <see cref="UnkeyedFramePolicy.PrimaryOnly"/>.</summary>
    public UnkeyedFramePolicy Unkeyed { get; init; } = UnkeyedFramePolicy.PrimaryOnly;

    /// <summary>The merged source's frame bound (drop-oldest, counted in TotalLagged). Null: the connector's <c>Receive.RingCapacityFrames</c>.</summary>
    public int? MergedCapacityFrames { get; init; }

    /// <summary>The merged source's payload byte bound. Null: the connector's <c>Receive.RingCapacityBytes</c>.</summary>
    public long? MergedCapacityBytes { get; init; }

    /// <summary>The name of leg <paramref name="index"/>.</summary>
    internal string LegName(int index) => Legs[index].Name ?? $"leg{index}";

    /// <summary>Checks every field against the connector's options; throws naming the first bad one.</summary>
    /// <exception cref="ArgumentException">A field is invalid; the message names it (for example <c>RedundantConnectionOptions.Legs[1].Uri</c>).</exception>
    internal void Validate(TransportOptions connector)
    {
        const string Self = nameof(RedundantConnectionOptions);
        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new ArgumentException($"{Self}.{nameof(Name)} must not be empty.", nameof(Name));
        }

        if (Legs is null || Legs.Count is < 1 or > MaxLegs)
        {
            throw new ArgumentOutOfRangeException(nameof(Legs), Legs?.Count, $"{Self}.{nameof(Legs)} must hold 1 to {MaxLegs} legs.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < Legs.Count; i++)
        {
            string field = $"{Self}.{nameof(Legs)}[{i}]";
            var leg = Legs[i] ?? throw new ArgumentException($"{field} must not be null.", nameof(Legs));
            if (leg.Name is { } name && (string.IsNullOrWhiteSpace(name) || name.Any(char.IsWhiteSpace)))
            {
                throw new ArgumentException($"{field}.{nameof(LegOptions.Name)} must be a non-empty name without spaces.", nameof(Legs));
            }

            if (!names.Add(LegName(i)))
            {
                throw new ArgumentException($"{field}.{nameof(LegOptions.Name)} '{LegName(i)}' is used by another leg.", nameof(Legs));
            }

            if (leg.Uri is { } uri && uri is not { IsAbsoluteUri: true, Scheme: "ws" or "wss" })
            {
                throw new ArgumentException($"{field}.{nameof(LegOptions.Uri)} must be an absolute ws:// or wss:// URI.", nameof(Legs));
            }

            for (int f = 0; f < (leg.FailoverUris?.Count ?? 0); f++)
            {
                if (leg.FailoverUris![f] is not { IsAbsoluteUri: true, Scheme: "ws" or "wss" })
                {
                    throw new ArgumentException($"{field}.{nameof(LegOptions.FailoverUris)}[{f}] must be an absolute ws:// or wss:// URI.", nameof(Legs));
                }
            }

            if (leg.FailoverUris is { Count: > 0 } && leg.Uri is null)
            {
                throw new ArgumentException($"{field}.{nameof(LegOptions.FailoverUris)} needs {field}.{nameof(LegOptions.Uri)}: they are tried after it.", nameof(Legs));
            }
        }

        if (connector.Reconnect.MaxAttemptsPerWindow is { } attempts && attempts < Legs.Count)
        {
            throw new ArgumentOutOfRangeException(
                nameof(Legs),
                Legs.Count,
                $"{Self}.{nameof(Legs)} ({Legs.Count}) exceeds the connector's Reconnect.MaxAttemptsPerWindow ({attempts}), the connect-attempt cap its legs share: the legs could not even open within one window.");
        }

        (Dedupe ?? throw new ArgumentException($"{Self}.{nameof(Dedupe)} must not be null.", nameof(Dedupe))).Validate($"{Self}.{nameof(Dedupe)}");
        if (!Enum.IsDefined(Unkeyed))
        {
            throw new ArgumentOutOfRangeException(nameof(Unkeyed), Unkeyed, $"{Self}.{nameof(Unkeyed)} must be PrimaryOnly or All.");
        }

        if (KeySelector is null && Unkeyed == UnkeyedFramePolicy.All)
        {
            throw new ArgumentException($"{Self}.{nameof(Unkeyed)} is All but there is no {nameof(KeySelector)}: every frame would be delivered once per leg. Set a KeySelector, or use PrimaryOnly.", nameof(Unkeyed));
        }

        if (MergedCapacityFrames is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MergedCapacityFrames), MergedCapacityFrames, $"{Self}.{nameof(MergedCapacityFrames)} must be at least 1.");
        }

        if (MergedCapacityBytes is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MergedCapacityBytes), MergedCapacityBytes, $"{Self}.{nameof(MergedCapacityBytes)} must be at least 1.");
        }
    }
}
