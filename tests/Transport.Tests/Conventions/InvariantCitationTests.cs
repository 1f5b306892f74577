using System.Text.RegularExpressions;

namespace Transport.Tests.Conventions;

/// <summary>
/// The invariant-id convention (ADR 0005, "Invariant ids and test citations"), checked over the
/// source text of the repository:
/// <list type="bullet">
/// <item>an invariant id is <c>Component.Xn</c> (a PascalCase component, a dot, one capital letter,
/// digits: <c>Ring.I1</c>, <c>Actor.A1</c>), written in a comment; every id written in a comment in
/// <c>src/**/*.cs</c> is carried by at least one test as <c>[Trait("Invariant", "Ring.I1")]</c>
/// somewhere in <c>tests/**/*.cs</c>;</item>
/// <item>an invariant is never stated under a bare id: a comment line that starts (after
/// <c>//</c>, <c>///</c> and an optional <c>&lt;item&gt;</c>) with <c>I1</c>-style text fails;</item>
/// <item>a test cited in a src comment by name (a token shaped like a test method name:
/// <c>Capital…_lowercase…</c>, for example <c>(test: I4_wait_and_wake_allocate_nothing)</c>) exists as a
/// method in <c>tests/**/*.cs</c>.</item>
/// </list>
/// </summary>
public sealed partial class InvariantCitationTests
{
    [GeneratedRegex(@"(?<![\w.])([A-Z][A-Za-z]+\.[A-Z][0-9]+)\b(?!_)")]
    private static partial Regex InvariantId();

    [GeneratedRegex(@"^\s*(?:<item>)?\s*[A-Z][0-9]+\b(?!_)")]
    private static partial Regex BareIdDefinition();

    [GeneratedRegex(@"(?<![\w.])([A-Z][A-Za-z0-9]*_[a-z][A-Za-z0-9_]*)\b")]
    private static partial Regex TestNameShaped();

    [GeneratedRegex(@"\[Trait\(\s*""Invariant""\s*,\s*""([^""]+)""\s*\)\]")]
    private static partial Regex InvariantTrait();

    [GeneratedRegex(@"\b(?:void|Task|ValueTask)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(")]
    private static partial Regex MethodDeclaration();

    private static readonly string Root = FindRoot();

    [Fact]
    public void Every_invariant_id_cited_in_src_has_a_test_carrying_it_as_a_trait()
    {
        var tagged = TestSources().SelectMany(f => InvariantTrait().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value)).ToHashSet(StringComparer.Ordinal);
        var cited = SrcComments()
            .SelectMany(c => InvariantId().Matches(c.Text).Select(m => (Id: m.Groups[1].Value, c.Where)))
            .GroupBy(x => x.Id, StringComparer.Ordinal)
            .ToList();

        Assert.NotEmpty(cited);
        var untested = cited.Where(g => !tagged.Contains(g.Key)).Select(g => $"{g.Key} (cited at {g.First().Where})").Order(StringComparer.Ordinal).ToList();
        Assert.True(untested.Count == 0, "Invariant ids cited in src that no test carries as [Trait(\"Invariant\", id)]:\n" + string.Join("\n", untested));
    }

    [Fact]
    public void No_invariant_is_stated_under_a_bare_id()
    {
        var bare = SrcComments().Where(c => BareIdDefinition().IsMatch(c.Text)).Select(c => $"{c.Where}: {c.Text.Trim()}").ToList();
        Assert.True(bare.Count == 0, "Invariants stated under a bare id (prefix them with their component, e.g. Ring.I1):\n" + string.Join("\n", bare));
    }

    [Fact]
    public void Every_test_cited_by_name_in_src_exists()
    {
        var methods = TestSources().SelectMany(f => MethodDeclaration().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value)).ToHashSet(StringComparer.Ordinal);
        var missing = SrcComments()
            .SelectMany(c => TestNameShaped().Matches(c.Text).Select(m => (Name: m.Groups[1].Value, c.Where)))
            .Where(x => !methods.Contains(x.Name))
            .Select(x => $"{x.Name} (cited at {x.Where})")
            .ToList();
        Assert.True(missing.Count == 0, "Tests cited in src comments that do not exist:\n" + string.Join("\n", missing));
    }

    [Fact]
    public void The_scanner_sees_the_forms_it_documents()
    {
        Assert.Equal("Ring.I1", InvariantId().Match("/// <item>Ring.I1 the ring never exceeds its capacity</item>").Groups[1].Value);
        Assert.Equal("Waiter.W2", InvariantId().Match("// Waiter.W2: completed once").Groups[1].Value);
        Assert.DoesNotMatch(InvariantId(), "// see Ring_I1_test and Liveness.DeadAfter");
        Assert.Matches(BareIdDefinition(), " <item>I1 bare");
        Assert.Matches(BareIdDefinition(), " R2: bare");
        Assert.DoesNotMatch(BareIdDefinition(), " I4_wait_and_wake_allocate_nothing proves it");
        Assert.Equal("I4_wait_and_wake_allocate_nothing", TestNameShaped().Match("(test: I4_wait_and_wake_allocate_nothing)").Groups[1].Value);
        Assert.DoesNotMatch(TestNameShaped(), "tests named M4_* cover it");
        Assert.Equal("Ring.I1", InvariantTrait().Match("[Trait(\"Invariant\", \"Ring.I1\")]").Groups[1].Value);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Transport.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"Transport.sln not found above {AppContext.BaseDirectory}.");
    }

    private static IEnumerable<string> Sources(string folder) =>
        Directory.EnumerateFiles(Path.Combine(Root, folder), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar).Any(p => p is "bin" or "obj"));

    private static IEnumerable<string> TestSources() => Sources("tests");

    /// <summary>The comment text (after the first <c>//</c>) of every line of src/**/*.cs, with where it is.</summary>
    private static IEnumerable<(string Text, string Where)> SrcComments()
    {
        foreach (var file in Sources("src"))
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var at = lines[i].IndexOf("//", StringComparison.Ordinal);
                if (at >= 0 && (at == 0 || lines[i][at - 1] != ':'))
                {
                    yield return (lines[i][(at + 2)..].TrimStart('/'), $"{Path.GetRelativePath(Root, file)}:{i + 1}");
                }
            }
        }
    }
}
