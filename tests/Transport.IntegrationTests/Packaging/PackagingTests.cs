using System.IO.Compression;
using System.Xml.Linq;
using Transport.Testing;

namespace Transport.IntegrationTests.Packaging;

/// <summary>
/// Packs the three packages and consumes them from a fresh console project outside the repo (no
/// Directory.Build.props, no central package versions), which connects to a loopback server.
/// </summary>
[Trait("Category", "Packaging")]
[Collection(Stack.MemoryCollection.Name)]
public sealed class PackagingTests : IDisposable
{
    private const string Version = "0.0.0-test";
    private static readonly string[] Packages = ["Transport.Abstractions", "Transport.WebSockets", "Transport.Mock"];
    private static readonly TimeSpan StepBound = TimeSpan.FromMinutes(4);

    private readonly string _work = Path.Combine(Path.GetTempPath(), "transport-packaging-" + Guid.NewGuid().ToString("N"));

    public PackagingTests() => Directory.CreateDirectory(_work);

    [Fact]
    public async Task Packed_packages_restore_into_a_fresh_console_app_that_receives_a_frame()
    {
        var repo = RepositoryRoot();
        var feed = Directory.CreateDirectory(Path.Combine(_work, "feed")).FullName;
        foreach (var package in Packages)
        {
            var project = Path.Combine(repo, "src", package, package + ".csproj");
            var (code, output) = await DotnetCli.RunAsync(repo, StepBound, "pack", project, "-c", "Release", "-o", feed, "-p:Version=" + Version, "--disable-build-servers");
            Assert.True(code == 0, $"pack {package} failed:\n{output}");
        }

        foreach (var package in Packages)
        {
            AssertPackageContents(feed, package);
        }

        var app = Directory.CreateDirectory(Path.Combine(_work, "app")).FullName;
        await WriteConsoleAppAsync(app, feed);

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

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless.
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
        var dependencies = metadata.Descendants(ns + "dependency").Select(d => (string)d.Attribute("id")!).ToList();
        // Transport.Mock ships FakeTimeProvider as its documented clock (ADR 0003): that one test
        // package is a deliberate dependency of the mock package, and of no other.
        if (package == "Transport.Mock")
        {
            dependencies.Remove("Microsoft.Extensions.TimeProvider.Testing");
        }

        Assert.DoesNotContain(dependencies, d => d.StartsWith("xunit", StringComparison.OrdinalIgnoreCase) || d.Contains("Test", StringComparison.Ordinal) || d.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
    }

    private static async Task WriteConsoleAppAsync(string app, string feed)
    {
        var globalPackages = await GlobalPackagesFolderAsync();

        // The machine's own sources stay (no <clear/>); the local feed is added. A private
        // global-packages folder keeps 0.0.0-test out of the user's cache (a stale copy would be
        // reused by the next run); the user's cache is a fallback for the third-party packages.
        await File.WriteAllTextAsync(Path.Combine(app, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(app, "packages")}" />
              </config>
              <packageSources>
                <add key="transport-local" value="{feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="user-cache" value="{globalPackages}" />
              </fallbackPackageFolders>
            </configuration>
            """);
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

    private static async Task<string> GlobalPackagesFolderAsync()
    {
        var (code, output) = await DotnetCli.RunAsync(Path.GetTempPath(), TimeSpan.FromMinutes(1), "nuget", "locals", "global-packages", "--list");
        Assert.True(code == 0, output);
        var line = output.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("global-packages:", StringComparison.Ordinal));
        return line["global-packages:".Length..].Trim();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Transport.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Transport.sln not found above " + AppContext.BaseDirectory);
    }
}
