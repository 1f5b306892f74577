namespace Transport.IntegrationTests.Packaging;

/// <summary>
/// Packs the three packages once into a local feed (shared by the packaging tests), then restores
/// and builds one fresh consumer app outside the repository from that feed: the README's packages
/// (Transport.WebSockets, Transport.Mock) plus what the README's blocks use besides (ASP.NET Core,
/// OpenTelemetry, xunit's asserts), so its output folder holds the packed assemblies.
/// </summary>
public sealed class PackedFeed : IAsyncLifetime
{
    public const string Version = "0.0.0-test";
    public static readonly string[] Packages = ["Transport.Abstractions", "Transport.WebSockets", "Transport.Mock"];
    public static readonly TimeSpan StepBound = TimeSpan.FromMinutes(6);

    public string Work { get; } = Path.Combine(Path.GetTempPath(), "transport-packaging-" + Guid.NewGuid().ToString("N"));

    public string Feed => Path.Combine(Work, "feed");

    public string Repository { get; } = RepositoryRoot();

    /// <summary>The output of each pack, for the "pack is clean" assertion.</summary>
    public Dictionary<string, string> PackOutput { get; } = [];

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        foreach (var package in Packages)
        {
            var project = Path.Combine(Repository, "src", package, package + ".csproj");
            var (code, output) = await DotnetCli.RunAsync(Repository, StepBound, "pack", project, "-c", "Release", "-o", Feed, "-p:Version=" + Version, "--disable-build-servers");
            Assert.True(code == 0, $"pack {package} failed:\n{output}");
            PackOutput[package] = output;
        }

        Directory.CreateDirectory(App);
        await WriteConsumerAsync();
        ConsumerBuild = await DotnetCli.RunAsync(App, StepBound, "build", "-c", "Release", "--disable-build-servers");
    }

    /// <summary>The consumer app's folder.</summary>
    public string App => Path.Combine(Work, "app");

    /// <summary>The consumer's build output: the packed assemblies and their dependencies.</summary>
    public string AppOutput => Path.Combine(App, "bin", "Release", "net10.0");

    /// <summary>Exit code and output of the consumer's build.</summary>
    public (int ExitCode, string Output) ConsumerBuild { get; private set; }

    private async Task WriteConsumerAsync()
    {
        await WriteNuGetConfigAsync(App);
        await File.WriteAllTextAsync(Path.Combine(App, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <FrameworkReference Include="Microsoft.AspNetCore.App" />
                <PackageReference Include="Transport.WebSockets" Version="{Version}" />
                <PackageReference Include="Transport.Mock" Version="{Version}" />
                <PackageReference Include="OpenTelemetry.Extensions.Hosting" Version="{CentralVersion("OpenTelemetry.Extensions.Hosting")}" />
                <PackageReference Include="xunit.assert" Version="{CentralVersion("xunit")}" />
              </ItemGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(App, "Program.cs"), """
            using Transport;
            using Transport.WebSockets;

            var connector = new WebSocketTransportBuilder()
                .Configure(o => o.WithUri(args[0]).WithBackoff(TimeSpan.Zero, TimeSpan.FromSeconds(1), useJitter: false))
                .Build();
            await using var connection = connector.Start();
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

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Work, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless.
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// A NuGet.config for a consumer folder: the machine's own sources stay (no &lt;clear/&gt;) and the
    /// local feed is added. A private global-packages folder keeps 0.0.0-test out of the user's cache
    /// (a stale copy would be reused by the next run); the user's cache is a fallback for the
    /// third-party packages.
    /// </summary>
    public async Task WriteNuGetConfigAsync(string folder)
    {
        var globalPackages = await GlobalPackagesFolderAsync();
        await File.WriteAllTextAsync(Path.Combine(folder, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{Path.Combine(folder, "packages")}" />
              </config>
              <packageSources>
                <add key="transport-local" value="{Feed}" />
              </packageSources>
              <fallbackPackageFolders>
                <add key="user-cache" value="{globalPackages}" />
              </fallbackPackageFolders>
            </configuration>
            """);
    }

    /// <summary>The version Directory.Packages.props pins for <paramref name="package"/> (so consumers match the repo).</summary>
    public string CentralVersion(string package)
    {
        var props = System.Xml.Linq.XDocument.Load(Path.Combine(Repository, "Directory.Packages.props"));
        var version = props.Descendants("PackageVersion")
            .Where(e => string.Equals((string?)e.Attribute("Include"), package, StringComparison.OrdinalIgnoreCase))
            .Select(e => (string?)e.Attribute("Version"))
            .FirstOrDefault() ?? throw new InvalidOperationException($"{package} is not in Directory.Packages.props.");
        return version;
    }

    private static async Task<string> GlobalPackagesFolderAsync()
    {
        var (code, output) = await DotnetCli.RunAsync(Path.GetTempPath(), TimeSpan.FromMinutes(1), "nuget", "locals", "global-packages", "--list");
        Assert.True(code == 0, output);
        var line = output.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("global-packages:", StringComparison.Ordinal));
        return line["global-packages:".Length..].Trim();
    }

    public static string RepositoryRoot()
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
