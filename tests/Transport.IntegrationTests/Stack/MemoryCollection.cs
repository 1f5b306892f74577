namespace Transport.IntegrationTests.Stack;

/// <summary>
/// Tests that measure process-wide memory run alone (xunit runs this collection after the parallel ones),
/// so another test's allocations cannot pollute the measurement.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "Memory";
}
