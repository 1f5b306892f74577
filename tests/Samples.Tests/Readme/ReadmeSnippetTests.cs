using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using static Samples.Tests.Simulator.SimulatorDefaults;

namespace Samples.Tests.Readme;

/// <summary>
/// Every ```csharp block of the repository's README.md compiles against the built assemblies, with
/// the names it does not define supplied by <c>Readme/ReadmePrelude.cs</c> (documented there); and
/// the first example, run as written, receives ticks from the venue simulator.
/// </summary>
public sealed partial class ReadmeSnippetTests
{
    public static TheoryData<int> Blocks()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Snippets().Count; i++) data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void Every_csharp_block_of_the_README_compiles(int index)
    {
        var (line, code) = Snippets()[index];

        var (_, errors) = Compile(code);

        Assert.True(errors.Count == 0,
            $"README.md block at line {line} does not compile:\n{string.Join('\n', errors)}\n--- block ---\n{code}");
    }

    [Fact]
    public void The_README_has_csharp_blocks()
    {
        Assert.True(Snippets().Count >= 4, $"Found {Snippets().Count} blocks.");
    }

    [Fact]
    public async Task The_first_example_receives_ticks_from_the_simulator_on_its_first_connection()
    {
        await using var host = await StartAsync();
        var (assembly, errors) = Compile(Snippets()[0].Code);
        Assert.Empty(errors);
        var names = assembly!.GetType("ReadmePrelude.Names", throwOnError: true)!;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        names.GetProperty("venueUri")!.SetValue(null, host.WebSocketUri);
        names.GetProperty("ct")!.SetValue(null, stop.Token);
        var handled = (List<Transport.Frame>)names.GetProperty("Handled")!.GetValue(null)!;
        var handledSignal = (SemaphoreSlim)names.GetProperty("HandledSignal")!.GetValue(null)!;

        // The async body of the top-level statements (EntryPoint is the blocking wrapper around it).
        var main = assembly.GetType("Program", throwOnError: true)!.GetMethod("<Main>$", BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)!;
        var run = Task.Run(() => (Task)main.Invoke(null, [Array.Empty<string>()])!);
        // Woken by each frame Handle receives (or the example ending); bounded by the 60 s token.
        while (!run.IsCompleted && !Ticks(handled).Any())
        {
            await Task.WhenAny(run, handledSignal.WaitAsync(stop.Token));
            Assert.False(stop.IsCancellationRequested, "No tick within 60 s.");
        }

        Assert.True(Ticks(handled).Any(), $"No tick reached Handle; run status {run.Status}: {run.Exception}");
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    private static IEnumerable<string> Ticks(List<Transport.Frame> handled)
    {
        lock (handled)
        {
            return handled.Select(f => f.GetText()).Where(t => t.Contains("\"type\":\"tick\"", StringComparison.Ordinal)).ToList();
        }
    }

    private static List<(int Line, string Code)> Snippets()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        return CsharpBlock().Matches(readme)
            .Select(m => (readme[..m.Index].Count(c => c == '\n') + 1, m.Groups[1].Value))
            .ToList();
    }

    private static (Assembly? Assembly, List<string> Errors) Compile(string snippet)
    {
        var prelude = File.ReadAllText(Path.Combine(RepositoryRoot(), "tests", "Samples.Tests", "Readme", "ReadmePrelude.cs"));
        var options = new CSharpParseOptions(LanguageVersion.Latest);
        var compilation = CSharpCompilation.Create(
            "ReadmeSnippet" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(prelude, options, "ReadmePrelude.cs"), CSharpSyntaxTree.ParseText(snippet, options, "README.md")],
            References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var result = compilation.Emit(image);
        var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
        return (result.Success ? Assembly.Load(image.ToArray()) : null, errors);
    }

    // The test's own output folder (Transport.*, System.Reactive, xunit...) plus the shared frameworks
    // it runs on (ASP.NET Core included): what an app referencing the packages would see.
    private static readonly Lazy<List<MetadataReference>> References = new(() =>
    {
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
        {
            byName[Path.GetFileNameWithoutExtension(path)] = path;
        }

        foreach (var path in Directory.GetFiles(AppContext.BaseDirectory, "*.dll"))
        {
            byName.TryAdd(Path.GetFileNameWithoutExtension(path), path);
        }

        return byName.Values.Where(IsManaged).Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToList();
    });

    private static bool IsManaged(string path)
    {
        try
        {
            AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Transport.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException("Transport.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^```csharp\r?\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CsharpBlock();
}
