namespace Transport.WebSockets.DependencyInjection;

/// <summary>
/// The names registered in one service collection (a singleton instance stored in it), so a name
/// registered twice is configured twice but its services are added once, and the factory can
/// refuse an unknown name instead of building one from defaults.
/// </summary>
internal sealed class TransportNameRegistry
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal); // guarded by itself, as is _hosted
    private readonly HashSet<string> _hosted = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="name"/> was not registered before.</summary>
    public bool Add(string name)
    {
        lock (_names)
        {
            return _names.Add(name);
        }
    }

    /// <summary>True when <paramref name="name"/> was not registered as a hosted connection before.</summary>
    public bool AddHosted(string name)
    {
        lock (_names)
        {
            return _hosted.Add(name);
        }
    }

    public bool Contains(string name)
    {
        lock (_names)
        {
            return _names.Contains(name);
        }
    }
}
