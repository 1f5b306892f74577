using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Transport.Testing;

namespace Transport.IntegrationTests.Packaging;

/// <summary>
/// Packs the three packages (once, <see cref="PackedFeed"/>) and consumes them from fresh projects
/// outside the repo (no Directory.Build.props, no central package versions): a console app that
/// connects to a loopback server, and one app per C# block of the README (with the documented
/// prelude, tests/Samples.Tests/Readme/ReadmePrelude.cs), built together.
/// </summary>
[Trait("Category", "Packaging")]
[Collection(Stack.MemoryCollection.Name)]
public sealed partial class PackagingTests(PackedFeed packed) : IClassFixture<PackedFeed>
{
    private const string Version = PackedFeed.Version;
    private static readonly TimeSpan StepBound = PackedFeed.StepBound;

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
        var app = Directory.CreateDirectory(Path.Combine(packed.Work, "app")).FullName;
        await WriteConsoleAppAsync(app);

        await using var server = await LoopbackServer.StartAsync(async session =>
        {
            await session.AcceptAsync();
            await session.SendAsync("hello from loopback");
            await session.WaitForCloseAsync();
        });

        var build = await DotnetCli.RunAsync(app, StepBound, "build", "-c", "Release", "--disable-build-servers");
        Assert.True(build.ExitCode == 0, $"build of the consumer failed:\n{build.Output}");

        var dll = Path.Combine(app, "bin", "Release", "net10.0", "Consumer.dll");
        var run = await DotnetCli.RunAsync(app, TimeSpan.FromMinutes(1), dll, server.WebSocketUri.ToString());

        Assert.True(run.ExitCode == 0, $"the consumer failed ({run.ExitCode}):\n{run.Output}");
        Assert.Contains("FIRST: hello from loopback", run.Output, StringComparison.Ordinal);
        Assert.Contains("PHASE: Closed", run.Output, StringComparison.Ordinal);
        Assert.Equal(1, server.ConnectionCount);
    }

    [Fact]
    public async Task Every_csharp_block_of_the_README_builds_as_a_fresh_app_on_the_packed_packages()
    {
        var root = Directory.CreateDirectory(Path.Combine(packed.Work, "readme")).FullName;
        await packed.WriteNuGetConfigAsync(root);
        var readme = await File.ReadAllTextAsync(Path.Combine(packed.Repository, "README.md"));
        var prelude = await File.ReadAllTextAsync(Path.Combine(packed.Repository, "tests", "Samples.Tests", "Readme", "ReadmePrelude.cs"));
        var blocks = CsharpBlock().Matches(readme)
            .Select(m => (Line: readme[..m.Index].Count(c => c == '\n') + 1, Code: m.Groups[1].Value))
            .ToList();
        Assert.True(blocks.Count >= 4, $"Found {blocks.Count} C# blocks in README.md.");

        // One project per block (each block is a program of top-level statements), one build.
        var solution = new StringBuilder("<Solution>\n");
        for (var i = 0; i < blocks.Count; i++)
        {
            var name = $"ReadmeBlock{i:00}_line{blocks[i].Line}";
            var dir = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
            await File.WriteAllTextAsync(Path.Combine(dir, name + ".csproj"), ReadmeProject());
            await File.WriteAllTextAsync(Path.Combine(dir, "ReadmePrelude.cs"), prelude);
            await File.WriteAllTextAsync(Path.Combine(dir, "Program.cs"), blocks[i].Code);
            solution.Append($"  <Project Path=\"{name}/{name}.csproj\" />\n");
        }

        solution.Append("</Solution>\n");
        await File.WriteAllTextAsync(Path.Combine(root, "Readme.slnx"), solution.ToString());

        var build = await DotnetCli.RunAsync(root, StepBound, "build", "Readme.slnx", "-c", "Release", "--disable-build-servers");

        Assert.True(build.ExitCode == 0,
            "README blocks did not build against the packed packages (project name = block index and README line):\n"
            + string.Join('\n', build.Output.Split('\n').Where(l => l.Contains("error", StringComparison.Ordinal)).Distinct().Take(60)));
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

    private async Task WriteConsoleAppAsync(string app)
    {
        await packed.WriteNuGetConfigAsync(app);
        await File.WriteAllTextAsync(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Transport.WebSockets" Version="{Version}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), """
            using Transport;
            using Transport.WebSockets;

            var connector = new WebSocketTransportBuilder()
                .Configure(o => o.WithUri(args[0]).WithBackoff(TimeSpan.Zero, TimeSpan.FromSeconds(1), useJitter: false))
                .Build();
            await using var connection = await connector.ConnectAsync();
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await foreach (var frame in connection.Source.WithCancellation(bound.Token))
            {
                Console.WriteLine("FIRST: " + frame.GetText());
                break;
            }

            await connection.Control.ShutdownAsync();
            Console.WriteLine("PHASE: " + connection.Lifecycle.Current.Phase);
            return 0;
            """);
    }

    // A fresh app as a reader would make it for the README: the two packages, ASP.NET Core (the
    // hosting blocks), OpenTelemetry (the metrics block) and xunit's asserts (the testing block).
    private string ReadmeProject() => $"""
        <Project Sdk="Microsoft.NET.Sdk">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <TargetFramework>net10.0</TargetFramework>
            <Nullable>enable</Nullable>
            <ImplicitUsings>disable</ImplicitUsings>
            <NoWarn>$(NoWarn);CS1591</NoWarn>
          </PropertyGroup>
          <ItemGroup>
            <FrameworkReference Include="Microsoft.AspNetCore.App" />
            <PackageReference Include="Transport.WebSockets" Version="{Version}" />
            <PackageReference Include="Transport.Mock" Version="{Version}" />
            <PackageReference Include="OpenTelemetry.Extensions.Hosting" Version="{packed.CentralVersion("OpenTelemetry.Extensions.Hosting")}" />
            <PackageReference Include="xunit.assert" Version="{packed.CentralVersion("xunit")}" />
          </ItemGroup>
        </Project>
        """;

    [GeneratedRegex(@"^```csharp\r?\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CsharpBlock();
}
