namespace Transport.Mock;

/// <summary>An outcome for connect attempts the script does not cover (<see cref="ScriptedConnector.DefaultOutcome"/>).</summary>
public sealed class AttemptOutcome
{
    private AttemptOutcome(AttemptOutcomeKind kind, TransportException? error)
    {
        Kind = kind;
        Error = error;
    }

    /// <summary>Succeed with a fresh <see cref="MockSocket"/> per attempt.</summary>
    public static AttemptOutcome Succeed { get; } = new(AttemptOutcomeKind.Succeed, null);

    /// <summary>Hang until the attempt's token fires.</summary>
    public static AttemptOutcome Hang { get; } = new(AttemptOutcomeKind.Hang, null);

    /// <summary>How the attempt ends.</summary>
    public AttemptOutcomeKind Kind { get; }

    /// <summary>The error thrown when <see cref="Kind"/> is <see cref="AttemptOutcomeKind.Fail"/>.</summary>
    public TransportException? Error { get; }

    /// <summary>Fail every attempt with <paramref name="error"/>.</summary>
    /// <param name="error">The error to throw.</param>
    /// <returns>The outcome.</returns>
    public static AttemptOutcome Fail(TransportException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return new(AttemptOutcomeKind.Fail, error);
    }

    /// <summary>Names the outcome (and the error's kind, never its message).</summary>
    public override string ToString() => Error is { } e ? $"{Kind}({e.Kind})" : Kind.ToString();
}
