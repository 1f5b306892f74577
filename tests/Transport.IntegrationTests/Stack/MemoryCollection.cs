namespace Transport.IntegrationTests.Stack;

/// <summary>
/// Tests that must run alone (xunit runs this collection after the parallel ones): those that measure
/// process-wide memory, so another test's allocations cannot pollute the measurement, and the
/// packaging test, whose child `dotnet pack`/`build` processes take both cores for tens of seconds
/// and would otherwise starve the timing-sensitive fault tests running beside it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryCollection
{
    public const string Name = "Memory";
}
