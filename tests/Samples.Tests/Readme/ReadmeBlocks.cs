using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Samples.Tests.Readme;

/// <summary>
/// The ```csharp blocks of the repository's README.md, compiled the way a reader's app would compile
/// them: each with <c>Readme/ReadmePrelude.cs</c> (the names a block uses without defining them), into
/// an in-memory console program whose entry point a test can run.
/// </summary>
internal static partial class ReadmeBlocks
{
    public static List<(int Line, string Code)> All()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        return CsharpBlock().Matches(readme)
            .Select(m => (readme[..m.Index].Count(c => c == '\n') + 1, m.Groups[1].Value))
            .ToList();
    }

    public static (Assembly? Assembly, List<string> Errors) Compile(string snippet)
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

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Transport.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException("Transport.sln not found above " + AppContext.BaseDirectory);
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

    [GeneratedRegex(@"^```csharp\r?\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex CsharpBlock();
}
