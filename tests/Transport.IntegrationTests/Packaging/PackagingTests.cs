using System.IO.Compression;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Transport.Testing;

namespace Transport.IntegrationTests.Packaging;

/// <summary>
/// Packs the three packages (once, <see cref="PackedFeed"/>) and consumes them from a fresh app
/// outside the repo (no Directory.Build.props, no central package versions): it connects to a
/// loopback server, and every C# block of the README (with the documented prelude,
/// tests/Samples.Tests/Readme/ReadmePrelude.cs) compiles against the assemblies it restored.
/// </summary>
[Trait("Category", "Packaging")]
[Collection(Stack.MemoryCollection.Name)]
public sealed partial class PackagingTests(PackedFeed packed) : IClassFixture<PackedFeed>
{
    private const string Version = PackedFeed.Version;

    [Fact]
    public void Pack_is_clean_and_every_package_carries_its_metadata()
    {
        foreach (var package in PackedFeed.Packages)
        {
            // No NU5xxx (metadata, readme, icon) or other warning from pack: metadata is complete.
            Assert.DoesNotMatch(new Regex(@"warning (NU|CS|IL|RS)\d+"), packed.PackOutput[package]);
            AssertPackageContents(packed.Feed, package);
        }
    }

    [Fact]
    public async Task Packed_packages_restore_into_a_fresh_console_app_that_receives_a_frame()
    {
        Assert.True(packed.ConsumerBuild.ExitCode == 0, $"build of the consumer failed:\n{packed.ConsumerBuild.Output}");

        await using var server = await LoopbackServer.StartAsync(async session =>
        {
            await session.AcceptAsync();
            await session.SendAsync("hello from loopback");
            await session.WaitForCloseAsync();
        });

        var dll = Path.Combine(packed.AppOutput, "Consumer.dll");
        var run = await DotnetCli.RunAsync(packed.App, TimeSpan.FromMinutes(1), dll, server.WebSocketUri.ToString());

        Assert.True(run.ExitCode == 0, $"the consumer failed ({run.ExitCode}):\n{run.Output}");
        Assert.Contains("FIRST: hello from loopback", run.Output, StringComparison.Ordinal);
        Assert.Contains("PHASE: Closed", run.Output, StringComparison.Ordinal);
        Assert.Equal(1, server.ConnectionCount);
    }

    [Fact]
    public async Task Every_csharp_block_of_the_README_compiles_against_the_packed_packages()
    {
        Assert.True(packed.ConsumerBuild.ExitCode == 0, $"build of the consumer failed:\n{packed.ConsumerBuild.Output}");
        var readme = await File.ReadAllTextAsync(Path.Combine(packed.Repository, "README.md"));
        var prelude = await File.ReadAllTextAsync(Path.Combine(packed.Repository, "tests", "Samples.Tests", "Readme", "ReadmePrelude.cs"));
        var blocks = CsharpBlock().Matches(readme)
            .Select(m => (Line: readme[..m.Index].Count(c => c == '\n') + 1, Code: m.Groups[1].Value))
            .ToList();
        Assert.True(blocks.Count >= 4, $"Found {blocks.Count} C# blocks in README.md.");

        // The Transport.* assemblies come from the restored .nupkg files (the consumer's output), never
        // from the repository's build; the rest is the shared framework an app runs on.
        var references = ReadmeReferences();
        var transport = references.Keys.Where(k => k.StartsWith("Transport.", StringComparison.Ordinal)).ToList();
        Assert.Equal(["Transport.Abstractions", "Transport.Mock", "Transport.WebSockets"], transport.Order());
        Assert.All(transport, name => Assert.StartsWith(packed.AppOutput, references[name], StringComparison.Ordinal));

        var failures = new List<string>();
        foreach (var (line, code) in blocks)
        {
            var compilation = CSharpCompilation.Create(
                "ReadmeBlockAtLine" + line,
                [CSharpSyntaxTree.ParseText(prelude, Parse, "ReadmePrelude.cs"), CSharpSyntaxTree.ParseText(code, Parse, "README.md")],
                references.Values.Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)),
                new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
            using var image = new MemoryStream();
            var errors = compilation.Emit(image).Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            if (errors.Count > 0)
            {
                failures.Add($"README.md block at line {line}:\n  " + string.Join("\n  ", errors) + "\n--- block ---\n" + code);
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    private static readonly CSharpParseOptions Parse = new(LanguageVersion.Latest);

    // The shared frameworks (Microsoft.NETCore.App, Microsoft.AspNetCore.App) plus every managed
    // assembly in the consumer's output, by simple name.
    private Dictionary<string, string> ReadmeReferences()
    {
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var shared = $"{Path.DirectorySeparatorChar}shared{Path.DirectorySeparatorChar}";
        foreach (var path in ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
        {
            if (path.Contains(shared + "Microsoft.NETCore.App", StringComparison.Ordinal) || path.Contains(shared + "Microsoft.AspNetCore.App", StringComparison.Ordinal))
            {
                byName[Path.GetFileNameWithoutExtension(path)] = path;
            }
        }

        foreach (var path in Directory.GetFiles(packed.AppOutput, "*.dll"))
        {
            if (IsManaged(path) && Path.GetFileNameWithoutExtension(path) != "Consumer")
            {
                byName.TryAdd(Path.GetFileNameWithoutExtension(path), path);
            }
        }

        return byName;
    }

    private static bool IsManaged(string path)
    {
        try
        {
            System.Reflection.AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    private static void AssertPackageContents(string feed, string package)
    {
        Assert.True(File.Exists(Path.Combine(feed, $"{package}.{Version}.snupkg")), $"{package}: no symbols package");
        using var zip = ZipFile.OpenRead(Path.Combine(feed, $"{package}.{Version}.nupkg"));
        var entries = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Contains("README.md", entries);
        Assert.Contains($"lib/net10.0/{package}.dll", entries);
        Assert.Contains($"lib/net10.0/{package}.xml", entries);

        using var nuspec = zip.GetEntry($"{package}.nuspec")!.Open();
        var doc = XDocument.Load(nuspec);
        XNamespace ns = doc.Root!.Name.Namespace;
        var metadata = doc.Root.Element(ns + "metadata")!;
        Assert.Equal("MIT", metadata.Element(ns + "license")?.Value);
        Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "tags")?.Value), $"{package}: no tags");
        Assert.True((metadata.Element(ns + "description")?.Value.Length ?? 0) > 40, $"{package}: no real description");
        if (package == "Transport.WebSockets")
        {
            // The default leaf is the Pipelines one (ADR 0008): the description must not say otherwise.
            Assert.Equal(LeafKind.Pipelines, new TransportOptions().Leaf);
            Assert.Matches("Pipelines[^()]*the default", metadata.Element(ns + "description")!.Value);
        }

        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "authors")?.Value), $"{package}: no authors");
        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "projectUrl")?.Value), $"{package}: no project URL");
        var repository = metadata.Element(ns + "repository");
        Assert.Equal("git", (string?)repository?.Attribute("type"));
        Assert.StartsWith("https://", (string?)repository?.Attribute("url"), StringComparison.Ordinal);
        // The package's own README (not the repository's), the one its readme element points at.
        using (var readme = new StreamReader(zip.GetEntry("README.md")!.Open()))
        {
            Assert.StartsWith("# " + package, readme.ReadToEnd(), StringComparison.Ordinal);
        }

        var dependencies = metadata.Descendants(ns + "dependency").Select(d => (string)d.Attribute("id")!).ToList();
        // Transport.Mock ships FakeTimeProvider as its documented clock (ADR 0003): that one test
        // package is a deliberate dependency of the mock package, and of no other.
        if (package == "Transport.Mock")
        {
            dependencies.Remove("Microsoft.Extensions.TimeProvider.Testing");
        }

        Assert.DoesNotContain(dependencies, d => d.StartsWith("xunit", StringComparison.OrdinalIgnoreCase) || d.Contains("Test", StringComparison.Ordinal) || d.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^```csharp\r?\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CsharpBlock();
}
