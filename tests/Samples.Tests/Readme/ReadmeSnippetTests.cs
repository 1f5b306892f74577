namespace Samples.Tests.Readme;

/// <summary>
/// Every ```csharp block of the repository's README.md compiles against the built assemblies, with
/// the names it does not define supplied by <c>Readme/ReadmePrelude.cs</c> (documented there).
/// <see cref="ReadmeExampleTests"/> runs them.
/// </summary>
public sealed class ReadmeSnippetTests
{
    public static TheoryData<int> Blocks()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < ReadmeBlocks.All().Count; i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Every_csharp_block_of_the_README_compiles(int index)
    {
        var (line, code) = ReadmeBlocks.All()[index];

        var (_, errors) = ReadmeBlocks.Compile(code);

        Assert.True(errors.Count == 0,
            $"README.md block at line {line} does not compile:\n{string.Join('\n', errors)}\n--- block ---\n{code}");
    }

    [Fact]
    public void The_README_has_csharp_blocks()
    {
        Assert.True(ReadmeBlocks.All().Count >= 4, $"Found {ReadmeBlocks.All().Count} blocks.");
    }
}
